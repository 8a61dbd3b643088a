#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tokens of one split: a view into a memory-mapped llm.c token file (uint16 or uint32) or
/// an array held in memory. Immutable, so it is shared freely between threads.
public struct TokenSequence: Sendable {
    /// The underlying memory; views are `start..<start + count` of it.
    private let storage: Storage
    private let start: Int
    public let count: Int

    /// The tokens of an array.
    public init(_ tokens: [Int32]) {
        self.storage = .array(tokens)
        self.start = 0
        self.count = tokens.count
    }

    init(mapping: MappedFile, tokensAt offset: Int, count: Int, wide: Bool) {
        let raw = mapping.base + offset
        self.storage = wide
            ? .uint32(raw.assumingMemoryBound(to: UInt32.self), mapping)
            : .uint16(raw.assumingMemoryBound(to: UInt16.self), mapping)
        self.start = 0
        self.count = count
    }

    private init(storage: Storage, start: Int, count: Int) {
        self.storage = storage
        self.start = start
        self.count = count
    }

    /// Token `i`, 0 <= i < count.
    @inline(__always)
    public subscript(i: Int) -> Int32 {
        precondition(i >= 0 && i < count, "token index \(i) outside 0..<\(count)")
        switch storage {
        case .array(let a): return a[start + i]
        case .uint16(let p, _): return Int32(p[start + i])
        case .uint32(let p, _): return Int32(bitPattern: p[start + i])
        }
    }

    /// Tokens `range` of this sequence as a sequence of their own (no copy).
    public func slice(_ range: Range<Int>) -> TokenSequence {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) outside 0..<\(count)")
        return TokenSequence(storage: storage, start: start + range.lowerBound, count: range.count)
    }

    /// Copies tokens `from..<from + n` to `destination`, switching on the storage once.
    @inline(__always)
    func copy(from: Int, count n: Int, to destination: UnsafeMutablePointer<Int32>) {
        precondition(from >= 0 && n >= 0 && from + n <= count, "tokens \(from)..<\(from + n) outside 0..<\(count)")
        guard n > 0 else { return }
        let s = start + from
        switch storage {
        case .array(let a):
            a.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + s, count: n) }
        case .uint16(let p, _):
            for i in 0..<n { destination[i] = Int32(p[s + i]) }
        case .uint32(let p, _):
            for i in 0..<n { destination[i] = Int32(bitPattern: p[s + i]) }
        }
    }

    /// All tokens as an array.
    public func toArray() -> [Int32] {
        [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { copy(from: 0, count: count, to: buffer.baseAddress!) }
            initialized = count
        }
    }

    private enum Storage: @unchecked Sendable {  // the pointers point into the immutable mapping they hold
        case array([Int32])
        case uint16(UnsafePointer<UInt16>, MappedFile)
        case uint32(UnsafePointer<UInt32>, MappedFile)
    }
}

/// A read-only memory mapping of a whole file, unmapped when the last reference goes.
final class MappedFile: @unchecked Sendable {  // read-only memory, never written after init
    let base: UnsafeRawPointer
    let size: Int

    /// Maps `path`; throws `DataError.tokenFile(path, .cannotOpen(reason))`.
    init(path: String) throws(DataError) {
        func cannotOpen(_ reason: String) -> DataError { .tokenFile(path: path, problem: .cannotOpen(reason)) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw cannotOpen(String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw cannotOpen(String(cString: strerror(errno))) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw cannotOpen("it is a directory") }
        size = Int(info.st_size)
        if size == 0 {
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16))
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw cannotOpen("mmap: " + String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if size == 0 {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        }
    }
}
