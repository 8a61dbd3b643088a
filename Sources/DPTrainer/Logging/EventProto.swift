/// Field numbers of the messages a scalar event is made of, from TensorFlow's
/// tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto:
///
///     message Event   { double wall_time = 1; int64 step = 2;
///                       oneof what { string file_version = 3; Summary summary = 5; … } }
///     message Summary { repeated Value value = 1; }
///     message Value   { string tag = 1; oneof value { float simple_value = 2; … } }
public enum EventProto {
    public enum Event {
        public static let wallTime = 1
        public static let step = 2
        public static let fileVersion = 3
        public static let summary = 5
    }

    public enum Summary {
        public static let value = 1
    }

    public enum Value {
        public static let tag = 1
        public static let simpleValue = 2
    }

    /// The version string of the first event of a file; TensorBoard expects "brain.Event:2".
    static let fileVersion = "brain.Event:2"

    /// An Event holding the file version.
    static func fileVersionEvent(wallTime: Double) -> [UInt8] {
        var event = ProtobufWriter()
        event.append(Event.wallTime, double: wallTime)
        event.append(Event.fileVersion, string: fileVersion)
        return event.bytes
    }

    /// An Event holding one Summary with a simple_value per scalar.
    static func scalarEvent(_ scalars: [(tag: String, value: Float)], step: Int, wallTime: Double) -> [UInt8] {
        var summary = ProtobufWriter()
        for (tag, value) in scalars {
            var entry = ProtobufWriter()
            entry.append(Value.tag, string: tag)
            entry.append(Value.simpleValue, float: value)
            summary.append(Summary.value, bytes: entry.bytes)
        }
        var event = ProtobufWriter()
        event.append(Event.wallTime, double: wallTime)
        event.append(Event.step, int64: Int64(step))
        event.append(Event.summary, bytes: summary.bytes)
        return event.bytes
    }
}
