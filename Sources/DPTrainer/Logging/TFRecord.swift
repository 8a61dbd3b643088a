/// TFRecord framing, the container of TensorBoard event files. Each record is
///
///     uint64 length            little-endian
///     uint32 masked_crc32c(length bytes)
///     byte   data[length]
///     uint32 masked_crc32c(data)
///
/// so a reader can find every record boundary and detect any damaged byte.
public enum TFRecord {
    /// Framing overhead per record: 8 + 4 before the data, 4 after.
    static let overhead = 16

    /// One record holding `data`.
    static func frame(_ data: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(data.count + overhead)
        appendLittleEndian(UInt64(data.count), to: &record)
        appendLittleEndian(CRC32C.masked(CRC32C.checksum(record[0..<8])), to: &record)
        record += data
        appendLittleEndian(CRC32C.masked(CRC32C.checksum(data)), to: &record)
        return record
    }

    /// Splits `bytes` into records, verifying both checksums of each.
    ///
    /// - Returns: each record's data with the byte offset where its frame starts.
    /// - Throws: `TensorBoardError` (description prefixed with `name`) naming the offset of the
    ///   first record that is truncated or fails a checksum.
    public static func records(in bytes: [UInt8], name: String) throws(TensorBoardError) -> [(offset: Int, data: ArraySlice<UInt8>)] {
        var records: [(offset: Int, data: ArraySlice<UInt8>)] = []
        var offset = 0
        while offset < bytes.count {
            func damaged(_ what: String) -> TensorBoardError {
                TensorBoardError("\(name): the record at byte \(offset) \(what) (the file is damaged)", offset: offset)
            }
            guard bytes.count - offset >= 12 else { throw damaged("is truncated inside its header") }
            let lengthBytes = bytes[offset..<offset + 8]
            guard readLittleEndian(bytes, at: offset + 8, as: UInt32.self) == CRC32C.masked(CRC32C.checksum(lengthBytes)) else {
                throw damaged("fails its length checksum")
            }
            let length = readLittleEndian(bytes, at: offset, as: UInt64.self)
            let available = bytes.count - offset - overhead
            guard available >= 0, length <= UInt64(available) else {
                throw damaged("claims \(length) bytes of data but the file ends first")
            }
            let start = offset + 12, end = start + Int(length)
            let data = bytes[start..<end]
            guard readLittleEndian(bytes, at: end, as: UInt32.self) == CRC32C.masked(CRC32C.checksum(data)) else {
                throw damaged("fails its data checksum")
            }
            records.append((offset, data))
            offset = end + 4
        }
        return records
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func readLittleEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size {
            value |= T(bytes[offset + i]) << (8 * i)
        }
        return value
    }
}
