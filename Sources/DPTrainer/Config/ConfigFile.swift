import DPBase
import Foundation
internal import TOMLKit

/// `dptrain train --config FILE`: the settings of a JSON or TOML file, as one `ConfigLayer` that
/// applies after the preset (or checkpoint) and before the command-line flags.
///
/// The file has config.json's structure — objects (TOML tables) `model`, `training`, `data`,
/// `parallel` holding their settings, and `preset` and `out` at the top — so that
/// `--config OLD_OUT/config.json` repeats a run; or the flat form of option names without their
/// dashes (`grad-accum` or `grad_accum`); or both:
///
///     # run.toml                        // run.json
///     data = "input.txt"                {"data": "input.txt", "steps": 2000}
///     steps = 2_000                     {"model": {"dim": 64}, "training": {"lr": 0.003}}
///     [model]
///     dim = 64
///
/// A file ending in .json is JSON; any other is TOML (TOMLKit: literal strings, escapes, `1_000`).
public enum ConfigFile {
    /// Reads `path`. Throws `ConfigError`: one sentence naming the file and the line (a TOML syntax
    /// error) or the key (an unknown setting, a value of the wrong kind).
    public static func layer(at path: String) throws -> ConfigLayer {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("--config \(path) cannot be read: \(fileProblem(path)).")
        }
        let name = URL(fileURLWithPath: path).lastPathComponent
        let tree = path.hasSuffix(".json") ? try json(data, path: path) : try toml(data, path: path)
        var layer = ConfigLayer()
        for (key, value) in tree {
            switch value {
            case .section(let entries):
                for (inner, value) in entries {
                    let dotted = "\(key).\(inner)"
                    if case .null = value { continue }
                    guard case .scalar(let scalar) = value else {
                        throw ConfigError("--config \(path): \(dotted) is not a string, a number or true/false.")
                    }
                    guard RunConfig.setting(dotted) != nil else {
                        throw ConfigError("--config \(path): \(dotted) is not a setting of dptrain train (config.json lists them all).")
                    }
                    layer.set(dotted, scalar, source: "\(name)'s \(dotted)")
                }
            case .scalar(let scalar):
                guard let setting = RunConfig.setting(flatName: key) else {
                    throw ConfigError("--config \(path): \(key) is not an option of dptrain train (see dptrain train --help).")
                }
                layer.set(setting.key, scalar, source: "\(name)'s \(key)")
            case .null:
                continue
            case .unsupported(let what):
                throw ConfigError("--config \(path): \(key) is \(what); a setting is a string, a number or true/false.")
            }
        }
        return layer
    }

    /// A file's top level: sections of settings, and settings.
    enum Node {
        case section([(String, Node)])
        case scalar(ConfigValue)
        /// JSON's null: the setting is not given.
        case null
        case unsupported(String)
    }

    static func toml(_ data: Data, path: String) throws -> [(String, Node)] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: String(decoding: data, as: UTF8.self))
        } catch let error as TOMLParseError {
            throw ConfigError("--config \(path) line \(error.source.begin.line): \(error.description).")
        }
        func node(_ value: any TOMLValueConvertible) -> Node {
            switch value.type {
            case .table:
                return .section(value.table!.map { ($0, node($1)) }.sorted { $0.0 < $1.0 })
            case .int: return .scalar(.number(String(value.int!)))
            case .double: return .scalar(.number(String(value.double!)))
            case .bool: return .scalar(.bool(value.bool!))
            case .string: return .scalar(.text(value.string!))
            case .array: return .unsupported("an array")
            case .date, .time, .dateTime: return .unsupported("a date or time")
            }
        }
        return table.map { ($0, node($1)) }.sorted { $0.0 < $1.0 }
    }

    static func json(_ data: Data, path: String) throws -> [(String, Node)] {
        guard let object = try? JSONDecoder().decode([String: JSONNode].self, from: data) else {
            throw ConfigError("--config \(path) is not a JSON object (its settings as config.json writes them, or option names).")
        }
        return object.keys.sorted().map { ($0, object[$0]!.node) }
    }

    /// Any JSON value, read as a `Node` (JSONDecoder never reads a number as a Bool, so the order
    /// of the attempts below is safe).
    struct JSONNode: Decodable {
        let node: Node
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                node = .null
            } else if let flag = try? container.decode(Bool.self) {
                node = .scalar(.bool(flag))
            } else if let integer = try? container.decode(Int64.self) {
                node = .scalar(.number(String(integer)))
            } else if let integer = try? container.decode(UInt64.self) {
                node = .scalar(.number(String(integer)))
            } else if let number = try? container.decode(Double.self) {
                node = .scalar(.number(String(number)))
            } else if let text = try? container.decode(String.self) {
                node = .scalar(.text(text))
            } else if let object = try? container.decode([String: JSONNode].self) {
                node = .section(object.keys.sorted().map { ($0, object[$0]!.node) })
            } else {
                node = .unsupported("an array")
            }
        }
    }

    /// Why a file cannot be read, in words.
    static func fileProblem(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) { return "no such file" }
        if isDirectory.boolValue { return "it is a directory" }
        return "permission denied or not a regular file"
    }
}

extension RunConfig {
    /// config.json's bytes: this configuration as `--config` reads it back.
    public func encodedJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
