import Foundation

/// `dptrain train --config FILE`: a JSON object or a flat TOML file of option names and values,
/// turned into command-line arguments placed before the real ones, so that flags given on the
/// command line override the file (the parser keeps the last value of an option).
///
///     # run.toml                          // run.json
///     data = "input.txt"                  {"data": "input.txt", "steps": 2000,
///     steps = 2000                         "tie_embeddings": false, "debug": true}
///     tie-embeddings = false
///     debug = true
///
/// Keys are option names without the dashes (`grad-accum` or `grad_accum`); `true` gives a flag,
/// `false` its `--no-` form (or nothing for a flag without one). TOML here is the flat subset a
/// run needs: `key = value` lines with strings, numbers and booleans, and comments; no tables.
enum ConfigFile {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The flags whose `false` is written as `--no-NAME`.
    static let invertible: Set<String> = ["tie-embeddings"]

    /// `arguments` with every `--config FILE` replaced by the file's options, placed first.
    static func expand(_ arguments: [String]) throws -> [String] {
        guard let index = arguments.firstIndex(where: { $0 == "--config" || $0.hasPrefix("--config=") }) else {
            return arguments
        }
        var rest = arguments
        let path: String
        if rest[index] == "--config" {
            guard index + 1 < rest.count else { throw Failure(description: "--config needs a file.") }
            path = rest[index + 1]
            rest.removeSubrange(index...(index + 1))
        } else {
            path = String(rest[index].dropFirst("--config=".count))
            rest.remove(at: index)
        }
        let fromFile = try options(in: path)
        let position = rest.first == "train" ? 1 : 0
        rest.insert(contentsOf: fromFile, at: position)
        return rest
    }

    /// The command-line arguments a config file stands for.
    static func options(in path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "--config \(path) cannot be read.")
        }
        let pairs = path.hasSuffix(".json") ? try parseJSON(data, path: path) : try parseTOML(data, path: path)
        return pairs.flatMap { key, value -> [String] in
            let name = key.replacingOccurrences(of: "_", with: "-")
            switch value {
            case .flag(true): return ["--\(name)"]
            case .flag(false): return invertible.contains(name) ? ["--no-\(name)"] : []
            case .value(let text): return ["--\(name)", text]
            }
        }
    }

    enum Value: Equatable {
        case flag(Bool)
        case value(String)
    }

    static func parseJSON(_ data: Data, path: String) throws -> [(String, Value)] {
        guard let object = try? JSONDecoder().decode([String: JSONScalar].self, from: data) else {
            throw Failure(description: "--config \(path) is not a JSON object whose values are strings, numbers or booleans.")
        }
        return object.keys.sorted().map { ($0, object[$0]!.value) }
    }

    /// A JSON string, number or boolean (JSONDecoder never reads a number as a Bool).
    struct JSONScalar: Decodable {
        let value: Value
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                value = .flag(flag)
            } else if let number = try? container.decode(Double.self) {
                value = .value(number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number))
            } else {
                value = .value(try container.decode(String.self))
            }
        }
    }

    static func parseTOML(_ data: Data, path: String) throws -> [(String, Value)] {
        var result: [(String, Value)] = []
        for (number, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "="), !line.hasPrefix("[") else {
                throw Failure(description: "--config \(path) line \(number + 1) is not `key = value` (only flat TOML is read: no tables).")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") {
                guard let close = value.dropFirst().firstIndex(of: "\"") else {
                    throw Failure(description: "--config \(path) line \(number + 1) has an unterminated string.")
                }
                result.append((key, .value(String(value[value.index(after: value.startIndex)..<close]))))
                continue
            }
            if let hash = value.firstIndex(of: "#") { value = value[..<hash].trimmingCharacters(in: .whitespaces) }
            switch value {
            case "true": result.append((key, .flag(true)))
            case "false": result.append((key, .flag(false)))
            default:
                guard Double(value.replacingOccurrences(of: "_", with: "")) != nil else {
                    throw Failure(description: "--config \(path) line \(number + 1): \(key) must be a quoted string, a number or true/false.")
                }
                result.append((key, .value(value.replacingOccurrences(of: "_", with: ""))))
            }
        }
        return result
    }
}
