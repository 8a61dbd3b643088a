import Foundation

/// The series of a run's OUT/metrics.jsonl (DESIGN.md §5) that plots need: train loss and tokens/s
/// per logged step, and val loss per evaluation, each sorted by step.
///
/// Lines are `{"step":N,"loss":…,"lr":…,"grad_norm":…,"tokens":…,"tokens_per_s":…,"mfu":…,"elapsed_s":…}`
/// (a training step) or `{"step":N,"val_loss":…}` (an evaluation). Only "step" and "loss" or
/// "val_loss" are required, so logs with fewer or more fields plot too.
public struct MetricsSeries: Sendable, Equatable {
    public struct TrainPoint: Sendable, Equatable {
        public var step: Int
        public var loss: Double
        /// Absent in logs that lack "tokens_per_s".
        public var tokensPerSecond: Double?

        public init(step: Int, loss: Double, tokensPerSecond: Double?) {
            self.step = step
            self.loss = loss
            self.tokensPerSecond = tokensPerSecond
        }
    }

    public struct ValPoint: Sendable, Equatable {
        public var step: Int
        public var loss: Double

        public init(step: Int, loss: Double) {
            self.step = step
            self.loss = loss
        }
    }

    public var train: [TrainPoint]
    public var validation: [ValPoint]

    public var isEmpty: Bool { train.isEmpty && validation.isEmpty }

    public init(train: [TrainPoint], validation: [ValPoint]) {
        self.train = train.sorted { $0.step < $1.step }
        self.validation = validation.sorted { $0.step < $1.step }
    }

    /// Parses JSON lines; blank lines are skipped.
    ///
    /// - Parameter name: how errors name the file, e.g. its path.
    /// - Throws: `MetricsFileError` naming the first line that is not such an object.
    public init(jsonLines text: String, name: String) throws(MetricsFileError) {
        var train: [TrainPoint] = [], validation: [ValPoint] = []
        let decoder = JSONDecoder()
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            func bad(_ what: String) -> MetricsFileError {
                MetricsFileError("\(name) line \(index + 1) \(what)", line: index + 1)
            }
            let record: Line
            do {
                record = try decoder.decode(Line.self, from: Data(line.utf8))
            } catch let problem as Line.Problem {
                throw bad(problem.what)
            } catch DecodingError.typeMismatch {
                throw bad("is not a JSON object")
            } catch {
                throw bad("is not valid JSON")
            }
            if let valLoss = record.valLoss {
                validation.append(ValPoint(step: record.step, loss: valLoss))
            } else if let loss = record.loss {
                train.append(TrainPoint(step: record.step, loss: loss, tokensPerSecond: record.tokensPerSecond))
            } else {
                throw bad("has neither \"loss\" nor \"val_loss\"")
            }
        }
        self.init(train: train, validation: validation)
    }

    /// Reads and parses a metrics.jsonl file.
    ///
    /// - Throws: `MetricsFileError` if the file is missing, unreadable, or has a bad line.
    public init(contentsOf url: URL) throws(MetricsFileError) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            if !FileManager.default.fileExists(atPath: url.path) {
                throw MetricsFileError("\(url.path) does not exist (has the run logged a step yet?)")
            }
            throw MetricsFileError("cannot read \(url.path): \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw MetricsFileError("\(url.path) is not UTF-8 text")
        }
        try self.init(jsonLines: text, name: url.path)
    }

    /// One line of the file, as far as plots care.
    private struct Line: Decodable {
        let step: Int
        let loss: Double?
        let valLoss: Double?
        let tokensPerSecond: Double?

        /// What is wrong with a line that is a JSON object, e.g. `has no "step"`.
        struct Problem: Error {
            let what: String
        }

        enum CodingKeys: String, CodingKey {
            case step, loss
            case valLoss = "val_loss"
            case tokensPerSecond = "tokens_per_s"
        }

        init(from decoder: any Decoder) throws {
            let object = try decoder.container(keyedBy: CodingKeys.self)
            guard object.contains(.step) else { throw Problem(what: #"has no "step""#) }
            guard let step = try? object.decode(Int.self, forKey: .step) else {
                throw Problem(what: #"has a "step" that is not an integer"#)
            }
            func number(_ key: CodingKeys) throws -> Double? {
                guard object.contains(key), try !object.decodeNil(forKey: key) else { return nil }
                guard let value = try? object.decode(Double.self, forKey: key) else {
                    throw Problem(what: "has a \"\(key.stringValue)\" that is not a number")
                }
                return value
            }
            self.step = step
            loss = try number(.loss)
            valLoss = try number(.valLoss)
            tokensPerSecond = try number(.tokensPerSecond)
        }
    }
}
