import Foundation

/// OUT/metrics.jsonl (DESIGN.md §5): one JSON object per logged step and per evaluation, appended
/// by rank 0 only.
final class MetricsLog {
    private let handle: FileHandle
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// Opens the log for appending. A new run (`keepingStepsUpTo` nil) starts it empty; a resumed run
    /// keeps only the lines of steps up to the checkpoint's, so that the file reads as one run.
    init(url: URL, keepingStepsUpTo lastStep: Int?) throws {
        var kept = Data()
        if let lastStep, let old = try? Data(contentsOf: url) {
            for line in old.split(separator: UInt8(ascii: "\n")) {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let step = object["step"] as? Int, step <= lastStep else { continue }
                kept.append(contentsOf: line)
                kept.append(UInt8(ascii: "\n"))
            }
        }
        try kept.write(to: url, options: .atomic)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit {
        try? handle.close()
    }

    func append(_ metrics: StepMetrics) throws {
        try write(encoder.encode(metrics))
    }

    func appendEvaluation(step: Int, valLoss: Double) throws {
        try write(encoder.encode(Evaluation(step: step, valLoss: valLoss)))
    }

    private struct Evaluation: Encodable {
        let step: Int
        let valLoss: Double
        enum CodingKeys: String, CodingKey {
            case step
            case valLoss = "val_loss"
        }
    }

    private func write(_ line: Data) throws {
        try handle.write(contentsOf: line + Data([UInt8(ascii: "\n")]))
    }
}
