/// Decodes the fields of one protocol buffer message, the inverse of `ProtobufWriter`. Unknown
/// fields of any wire type can be skipped, so events written by TensorFlow itself read too.
struct ProtobufReader {
    /// One field's value, by wire type.
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case lengthDelimited(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    /// Why a message does not decode; the caller adds where it was.
    struct Malformed: Error {
        let reason: String
    }

    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    /// The next field (number and value), or nil at the end of the message.
    mutating func next() throws(Malformed) -> (field: Int, value: Value)? {
        guard position < bytes.endIndex else { return nil }
        let key = try varint()
        let field = Int(truncatingIfNeeded: key >> 3)
        guard field > 0 else { throw Malformed(reason: "field number 0") }
        switch key & 7 {
        case 0:
            return (field, .varint(try varint()))
        case 1:
            return (field, .fixed64(try fixed(8)))
        case 2:
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - position) else {
                throw Malformed(reason: "field \(field) claims \(length) bytes but \(bytes.endIndex - position) remain")
            }
            let start = position
            position += Int(length)
            return (field, .lengthDelimited(bytes[start..<position]))
        case 5:
            return (field, .fixed32(UInt32(truncatingIfNeeded: try fixed(4))))
        case let wireType:
            throw Malformed(reason: "field \(field) has unsupported wire type \(wireType)")
        }
    }

    private mutating func varint() throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.endIndex, shift < 64 {
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw Malformed(reason: "truncated or overlong varint")
    }

    /// A little-endian fixed-width value of `count` bytes.
    private mutating func fixed(_ count: Int) throws(Malformed) -> UInt64 {
        guard bytes.endIndex - position >= count else { throw Malformed(reason: "truncated fixed\(count * 8) value") }
        var value: UInt64 = 0
        for i in 0..<count {
            value |= UInt64(bytes[position + i]) << (8 * UInt64(i))
        }
        position += count
        return value
    }
}
