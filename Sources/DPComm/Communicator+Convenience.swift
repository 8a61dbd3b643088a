extension Communicator {
    /// Sums `buffer` across all ranks in place.
    public func allReduceSum<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        try allReduce(buffer, .sum)
    }

    /// Sums one value across all ranks.
    public func sum<T: CommScalar>(_ value: T) throws -> T {
        try reduceScalar(value, .sum)
    }

    /// The largest of one value across all ranks.
    public func max<T: CommScalar>(_ value: T) throws -> T {
        try reduceScalar(value, .max)
    }

    /// The smallest of one value across all ranks.
    public func min<T: CommScalar>(_ value: T) throws -> T {
        try reduceScalar(value, .min)
    }

    private func reduceScalar<T: CommScalar>(_ value: T, _ op: ReduceOp) throws -> T {
        var result = value
        try withUnsafeMutablePointer(to: &result) { pointer in
            try allReduce(UnsafeMutableBufferPointer(start: pointer, count: 1), op)
        }
        return result
    }

    /// Broadcasts a byte string of any length from `root`; every rank returns root's bytes.
    public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        var count = [Int64(bytes.count)]
        try count.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
        var result = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count[0]))
        if !result.isEmpty {
            try result.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
        }
        return result
    }

    /// Broadcasts a string from `root`; every rank returns root's string.
    public func broadcast(string: String, root: Int) throws -> String {
        String(decoding: try broadcast(bytes: Array(string.utf8), root: root), as: UTF8.self)
    }

    /// Gathers one string from every rank, in rank order, on every rank.
    public func allGather(string: String) throws -> [String] {
        let local = Array(string.utf8)
        var lengths = [Int64](repeating: 0, count: size)
        try [Int64(local.count)].withUnsafeBufferPointer { mine in
            try lengths.withUnsafeMutableBufferPointer { try allGather(mine, into: $0) }
        }
        let width = Int(lengths.max() ?? 0)
        guard width > 0 else { return [String](repeating: "", count: size) }
        let padded = local + [UInt8](repeating: 0, count: width - local.count)
        var all = [UInt8](repeating: 0, count: width * size)
        try padded.withUnsafeBufferPointer { mine in
            try all.withUnsafeMutableBufferPointer { try allGather(mine, into: $0) }
        }
        return (0..<size).map { r in
            String(decoding: all[r * width ..< r * width + Int(lengths[r])], as: UTF8.self)
        }
    }

    /// Runs `body` on every rank and makes its failure collective.
    ///
    /// If `body` throws on any rank, every rank throws a `RankFailure` that carries the message of
    /// the lowest failing rank, so rank 0 can report it once and all ranks can exit together instead
    /// of leaving some waiting in a later collective. Costs two small all-reduces.
    public func collectively<R>(_ body: () throws -> R) throws -> R {
        var outcome: Result<R, any Error>
        do { outcome = .success(try body()) } catch { outcome = .failure(error) }
        let failingRank: Int64
        if case .failure = outcome { failingRank = Int64(rank) } else { failingRank = Int64(size) }
        let first = Int(try min(failingRank))
        if first == size, case .success(let value) = outcome { return value }
        var message = ""
        if case .failure(let error) = outcome { message = String(describing: error) }
        throw RankFailure(rank: first, message: try broadcast(string: message, root: first))
    }
}

/// An error that happened on one rank, made known to all ranks by `Communicator.collectively`.
public struct RankFailure: AgreedError {
    /// The lowest rank on which the operation failed.
    public let rank: Int
    /// That rank's description of the error.
    public let message: String
    public var description: String { message }
}
