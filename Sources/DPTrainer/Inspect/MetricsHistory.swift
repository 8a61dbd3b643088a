import Foundation

/// The records of an OUT/metrics.jsonl (DESIGN.md §5), for reading back what a run logged.
public struct MetricsHistory: Sendable {
    /// One line of metrics.jsonl: a training step (`loss`, `lr`, `gradNorm`) or an evaluation
    /// (`valLoss`).
    public struct Record: Sendable, Equatable {
        public let step: Int
        public let loss: Double?
        public let lr: Double?
        public let gradNorm: Double?
        public let valLoss: Double?
    }

    /// In file order; lines that are not JSON objects with an integer "step" are skipped.
    public let records: [Record]

    public init(records: [Record]) {
        self.records = records
    }

    /// Reads `url`. Throws only when the file cannot be read.
    public init(contentsOf url: URL) throws {
        let data = try Data(contentsOf: url)
        records = data.split(separator: UInt8(ascii: "\n")).compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let step = (object["step"] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }) else { return nil }
            func number(_ key: String) -> Double? { (object[key] as? NSNumber)?.doubleValue }
            return Record(step: step, loss: number("loss"), lr: number("lr"), gradNorm: number("grad_norm"), valLoss: number("val_loss"))
        }
    }

    /// The last `count` training records (those with a loss) at or before `step`, oldest first.
    public func lastLosses(_ count: Int, upTo step: Int) -> [Record] {
        Array(records.filter { $0.loss != nil && $0.step <= step }.suffix(count))
    }

    /// The last evaluation at or before `step`.
    public func lastValidation(upTo step: Int) -> Record? {
        records.last { $0.valLoss != nil && $0.step <= step }
    }
}
