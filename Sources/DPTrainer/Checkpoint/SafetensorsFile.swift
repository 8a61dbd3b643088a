import Foundation

/// A decoded, validated safetensors file (see `Safetensors.decode`). It keeps the file's bytes and
/// copies a tensor out on request.
public struct SafetensorsFile: Sendable {
    struct Entry: Sendable {
        let shape: [Int]
        let dtype: SafetensorsDType
        /// Byte range of the tensor's values in `data` (absolute indices).
        let byteRange: Range<Int>
    }

    /// The `__metadata__` object; empty if the file has none.
    public let metadata: [String: String]
    /// Tensor names in file order (by data offset).
    public let names: [String]
    let entries: [String: Entry]
    let data: Data

    /// The shape of tensor `name`, or nil if the file has no such tensor.
    public func shape(_ name: String) -> [Int]? {
        entries[name]?.shape
    }

    /// The element type of tensor `name` as stored, or nil if the file has no such tensor.
    public func dtype(_ name: String) -> SafetensorsDType? {
        entries[name]?.dtype
    }

    /// Copies tensor `name` into `destination`, which must hold exactly its element count, F16
    /// and BF16 widened exactly to F32. Throws `SafetensorsError` if the tensor is missing or the
    /// sizes differ. O(count).
    public func copy(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard let entry = entries[name] else {
            throw SafetensorsError("no tensor named \"\(name)\" in the file")
        }
        let count = entry.byteRange.count / entry.dtype.size
        guard count == destination.count else {
            throw SafetensorsError("tensor \"\(name)\" has shape \(entry.shape), \(count) values, but the destination holds \(destination.count)")
        }
        guard count > 0 else { return }
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let source = UnsafeRawBufferPointer(rebasing: raw[(entry.byteRange.lowerBound - data.startIndex)...].prefix(entry.byteRange.count))
            switch entry.dtype {
            case .f32:
                #if _endian(little)
                UnsafeMutableRawBufferPointer(destination).copyMemory(from: source)
                #else
                for i in 0..<count {
                    destination[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
                #endif
            case .f16:
                for i in 0..<count {
                    destination[i] = SafetensorsDType.float(half: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            case .bf16:
                for i in 0..<count {
                    let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    destination[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            }
        }
    }

    /// Tensor `name` as a new array (row-major). Throws if the file has no such tensor.
    public func values(_ name: String) throws -> [Float] {
        guard let entry = entries[name] else {
            throw SafetensorsError("no tensor named \"\(name)\" in the file")
        }
        let count = entry.byteRange.count / entry.dtype.size
        var out = [Float](repeating: 0, count: count)
        try out.withUnsafeMutableBufferPointer { try copy(name, into: $0) }
        return out
    }
}
