import Foundation

/// What is wrong with a JSON document that failed to decode, as a phrase that follows the file's
/// name: `"model.dim" is a string, not a number`, `has no "tokens_seen"`, `is not valid JSON`.
///
/// For a `DecodingError` the coding path is spelled as the JSON keys ("training.lr", "merges[3]");
/// Swift's own description (type names, CodingKeys, "debugDescription") never reaches a user.
/// Any other error is described by its own `description`.
public func jsonProblem(_ error: any Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += (out.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return out
    }
    func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt64.Type, is UInt32.Type, is UInt8.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is [Any].Type: return "an array"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array<") { return "an array" }
            if name.hasPrefix("Dictionary<") { return "an object" }
            return "an object"
        }
    }
    switch error {
    case .keyNotFound(let key, let context):
        let full = path(context.codingPath + [key])
        return "has no \"\(full)\""
    case .valueNotFound(let type, let context):
        let at = path(context.codingPath)
        return at.isEmpty ? "is null" : "has null for \"\(at)\", which must be \(kind(type))"
    case .typeMismatch(let type, let context):
        let at = path(context.codingPath)
        return at.isEmpty ? "is not \(kind(type))" : "has \"\(at)\" of the wrong type: it must be \(kind(type))"
    case .dataCorrupted(let context):
        let at = path(context.codingPath)
        return at.isEmpty ? "is not valid JSON" : "has an invalid value for \"\(at)\""
    @unknown default:
        return "cannot be decoded"
    }
}
