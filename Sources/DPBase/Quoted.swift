/// A user's text as dptrain shows it in a message: in double quotes, with the invisible characters
/// spelled out so that a user can see exactly what was given — `"a"`, `"\n"`, `"\t"`, `"\u{00A0}"`.
///
/// Newline, carriage return, tab and the quote itself are escaped as in Swift; other control
/// characters and whitespace other than the plain space become `\u{XXXX}`.
public func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\"": out += "\\\""
        default:
            if scalar.value < 0x20 || scalar.properties.generalCategory == .control
                || (scalar.properties.isWhitespace && scalar != " ") {
                out += "\\u{" + hex4(scalar.value) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// `value` in upper-case hex, at least four digits.
private func hex4(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
