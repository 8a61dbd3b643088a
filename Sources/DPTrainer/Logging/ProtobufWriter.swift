import Foundation

/// Encodes protocol buffer fields by hand, for the few messages TensorBoard needs
/// (https://protobuf.dev/programming-guides/encoding/). Each field is a key varint
/// `(field number << 3) | wire type` followed by the value.
struct ProtobufWriter {
    /// Wire types: 0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit.
    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    private(set) var bytes: [UInt8] = []

    /// Base-128 varint: seven bits per byte, least significant group first, high bit = more follow.
    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func appendKey(_ field: Int, _ wireType: WireType) {
        appendVarint(UInt64(field) << 3 | wireType.rawValue)
    }

    /// An int64 field: negative values take ten bytes (two's complement, as protobuf does).
    mutating func append(_ field: Int, int64 value: Int64) {
        appendKey(field, .varint)
        appendVarint(UInt64(bitPattern: value))
    }

    /// A double field: fixed64, IEEE 754 little-endian.
    mutating func append(_ field: Int, double value: Double) {
        appendKey(field, .fixed64)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A float field: fixed32, IEEE 754 little-endian.
    mutating func append(_ field: Int, float value: Float) {
        appendKey(field, .fixed32)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A length-delimited field: bytes, a UTF-8 string, or an embedded message.
    mutating func append(_ field: Int, bytes value: [UInt8]) {
        appendKey(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func append(_ field: Int, string value: String) {
        append(field, bytes: Array(value.utf8))
    }
}
