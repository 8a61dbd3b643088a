#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tokens of one split: a view into a memory-mapped llm.c token file (uint16 or uint32, read
/// in place and never widened in memory), an array held in memory, or the concatenation of several
/// such shards (`init(shards:)`), which the samplers keep apart: no window spans two shards.
/// Immutable, so it is shared freely between threads.
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

    /// The tokens of `shards`, one after the other. Indices run over all of them; `shards` gives
    /// them back, so that the samplers can keep every window inside one shard. Empty shards are
    /// kept (a shard's index is its place in the list).
    public init(shards: [TokenSequence]) {
        if shards.count <= 1 {
            self = shards.first ?? TokenSequence([])
            return
        }
        let table = ShardTable(shards.flatMap { $0.shards })
        self.storage = .shards(table)
        self.start = 0
        self.count = table.offsets.last!
    }

    /// The shards this sequence is made of, in order: itself when it is one file or array.
    public var shards: [TokenSequence] {
        if case .shards(let table) = storage { return table.parts }
        return [self]
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
        case .shards(let table):
            let s = table.shard(containing: i)
            return table.parts[s][i - table.offsets[s]]
        }
    }

    /// Tokens `range` of this sequence as a sequence of their own (no copy).
    public func slice(_ range: Range<Int>) -> TokenSequence {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) outside 0..<\(count)")
        if case .shards(let table) = storage {
            guard !range.isEmpty else { return TokenSequence([]) }
            let (first, last) = (table.shard(containing: range.lowerBound), table.shard(containing: range.upperBound - 1))
            return TokenSequence(shards: (first...last).map { s in
                let (lo, hi) = (table.offsets[s], table.offsets[s + 1])
                return table.parts[s].slice(max(range.lowerBound, lo) - lo ..< min(range.upperBound, hi) - lo)
            })
        }
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
        case .shards(let table):  // start is 0; the copy may cross shards
            var (from, done) = (from, 0)
            while done < n {
                let shard = table.shard(containing: from)
                let local = from - table.offsets[shard]
                let take = min(n - done, table.parts[shard].count - local)
                table.parts[shard].copy(from: local, count: take, to: destination + done)
                (from, done) = (from + take, done + take)
            }
        }
    }

    /// The index of the first token outside 0..<bound, or nil: one pass over the tokens in their
    /// stored width, O(count).
    func firstIndex(outside bound: Int) -> Int? {
        switch storage {
        case .array(let a):
            return (start..<start + count).first { a[$0] < 0 || Int(a[$0]) >= bound }.map { $0 - start }
        case .uint16(let p, _):
            guard bound <= Int(UInt16.max) else { return nil }
            let limit = UInt16(bound)
            // Blocks of 16 K tokens: a branch-free maximum (vectorized), then a search only in a
            // block that holds a bad token — start-up reads every token of the data once.
            var i = 0
            while i < count {
                let n = Swift.min(1 << 14, count - i), base = p + start + i
                var m: UInt16 = 0
                for k in 0..<n { m = Swift.max(m, base[k]) }
                if m >= limit { for k in 0..<n where base[k] >= limit { return i + k } }
                i += n
            }
            return nil
        case .uint32(let p, _):
            for i in 0..<count where Int(p[start + i]) >= bound || Int32(bitPattern: p[start + i]) < 0 { return i }
            return nil
        case .shards(let table):
            for (s, part) in table.parts.enumerated() {
                if let i = part.firstIndex(outside: bound) { return table.offsets[s] + i }
            }
            return nil
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
        case shards(ShardTable)
    }
}

/// Shards and where each begins in their concatenation.
private final class ShardTable: Sendable {
    let parts: [TokenSequence]
    /// offsets[s] is shard s's first index; offsets.last the total count.
    let offsets: [Int]

    init(_ parts: [TokenSequence]) {
        self.parts = parts
        var offsets = [0]
        for part in parts { offsets.append(offsets.last! + part.count) }
        self.offsets = offsets
    }

    /// The shard holding index i (0 <= i < total): binary search, O(log shards). Empty shards
    /// hold nothing and are never the answer.
    func shard(containing i: Int) -> Int {
        var (lo, hi) = (0, parts.count - 1)
        while lo < hi {  // the last s with offsets[s] <= i
            let mid = (lo + hi + 1) / 2
            if offsets[mid] <= i { lo = mid } else { hi = mid - 1 }
        }
        return lo
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

    /// Drops this process's page-table entries for the mapping (the pages stay in the page cache
    /// and come back on the next read): after a pass over all tokens, so that a check does not
    /// leave the whole file counted in this process's resident memory.
    func release() {
        if size > 0 { _ = madvise(UnsafeMutableRawPointer(mutating: base), size, MADV_DONTNEED) }
    }

    deinit {
        if size == 0 {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        }
    }
}
