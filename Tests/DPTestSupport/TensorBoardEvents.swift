import Foundation
import DPTrainer

/// Reads TensorBoard event files back, so that the tests can check what TensorBoardWriter wrote.
public enum TensorBoardEvents {
    /// Decodes every record of an event file, verifying both checksums of each.
    ///
    /// Scalars are the summary values that hold a simple_value; other values and event kinds
    /// (graphs, tensors, images) are skipped, so files written by TensorFlow read too.
    ///
    /// - Returns: one element per event, in file order; `fileVersion` is set on the version event.
    /// - Throws: `TensorBoardError` naming the byte offset of the first damaged or undecodable record.
    public static func read(_ url: URL) throws -> [(step: Int, wallTime: Double, fileVersion: String?, scalars: [(tag: String, value: Float)])] {
        let name = "TensorBoard event file \(url.path)"
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: url))
        } catch {
            throw TensorBoardError("cannot read \(name): \(error.localizedDescription)")
        }
        return try TFRecord.records(in: bytes, name: name).map { record in
            do throws(ProtobufReader.Malformed) {
                return try event(record.data)
            } catch {
                throw TensorBoardError(
                    "\(name): the record at byte \(record.offset) is not an Event (\(error.reason))", offset: record.offset)
            }
        }
    }

    private static func event(_ bytes: ArraySlice<UInt8>) throws(ProtobufReader.Malformed) -> (step: Int, wallTime: Double, fileVersion: String?, scalars: [(tag: String, value: Float)]) {
        var step = 0, wallTime = 0.0
        var fileVersion: String?
        var scalars: [(tag: String, value: Float)] = []
        var fields = ProtobufReader(bytes)
        while let (field, value) = try fields.next() {
            switch (field, value) {
            case (EventProto.Event.wallTime, .fixed64(let bits)):
                wallTime = Double(bitPattern: bits)
            case (EventProto.Event.step, .varint(let raw)):
                step = Int(Int64(bitPattern: raw))
            case (EventProto.Event.fileVersion, .lengthDelimited(let text)):
                fileVersion = String(decoding: text, as: UTF8.self)
            case (EventProto.Event.summary, .lengthDelimited(let summary)):
                scalars += try self.scalars(summary)
            case (EventProto.Event.wallTime, _), (EventProto.Event.step, _),
                 (EventProto.Event.fileVersion, _), (EventProto.Event.summary, _):
                throw ProtobufReader.Malformed(reason: "Event field \(field) has the wrong wire type")
            default:
                continue
            }
        }
        return (step, wallTime, fileVersion, scalars)
    }

    /// The (tag, simple_value) pairs of a Summary.
    private static func scalars(_ bytes: ArraySlice<UInt8>) throws(ProtobufReader.Malformed) -> [(tag: String, value: Float)] {
        var scalars: [(tag: String, value: Float)] = []
        var values = ProtobufReader(bytes)
        while let (field, value) = try values.next() {
            guard field == EventProto.Summary.value, case .lengthDelimited(let entry) = value else { continue }
            var tag: String?, simpleValue: Float?
            var entryFields = ProtobufReader(entry)
            while let (field, value) = try entryFields.next() {
                switch (field, value) {
                case (EventProto.Value.tag, .lengthDelimited(let text)):
                    tag = String(decoding: text, as: UTF8.self)
                case (EventProto.Value.simpleValue, .fixed32(let bits)):
                    simpleValue = Float(bitPattern: bits)
                default:
                    continue
                }
            }
            if let tag, let simpleValue { scalars.append((tag, simpleValue)) }
        }
        return scalars
    }
}
