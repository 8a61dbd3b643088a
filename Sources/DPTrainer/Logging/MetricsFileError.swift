/// Why OUT/metrics.jsonl cannot be plotted: one sentence naming the file and, for a bad line, its
/// 1-based line number, e.g. "runs/x/metrics.jsonl line 3 is not valid JSON".
public struct MetricsFileError: Error, CustomStringConvertible, Equatable {
    public let description: String
    /// The 1-based number of the offending line, if one is at fault.
    public let line: Int?

    init(_ description: String, line: Int? = nil) {
        self.description = description
        self.line = line
    }
}
