/// The collective operations dptrain needs, over MPI or within a single process.
///
/// Every rank of a job holds one communicator. Collectives are called by every rank in the same
/// order; buffers are reduced in place. Failures are thrown, never printed.
public protocol Communicator: AnyObject {
    /// This process's index in the job, `0..<size`.
    var rank: Int { get }
    /// The number of processes in the job (the world size W).
    var size: Int { get }
    /// This process's index among the ranks on the same host.
    var localRank: Int { get }
    /// The number of ranks on this host.
    var localSize: Int { get }
    /// The name of this host as the MPI library reports it.
    var hostname: String { get }
    /// A one-line description of the transport, e.g. the MPI library's version.
    var libraryVersion: String { get }

    /// Reduces `buffer` element-wise across all ranks with `op`; every rank ends with the result.
    func allReduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOp) throws
    /// Starts an in-place sum all-reduce of `buffer`; the buffer must not be touched until the
    /// returned request completes.
    func startAllReduceSum<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>) throws -> CommRequest
    /// Copies `buffer` of rank `root` into `buffer` of every other rank.
    func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws
    /// Gathers `count` elements from every rank into `result` (size·count), in rank order.
    func allGather<T: CommScalar>(_ local: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>) throws
    /// Sums `buffer` (the same length on every rank) across ranks and leaves in `shard` only this
    /// rank's part of the sum: the `counts[rank]` elements after the first `counts[..<rank]`
    /// (`counts` has one entry per rank and adds up to `buffer.count`). ZeRO-1's gradient step.
    func reduceScatterSum<T: CommScalar>(_ buffer: UnsafeBufferPointer<T>, into shard: UnsafeMutableBufferPointer<T>, counts: [Int]) throws
    /// In place: every rank's part of `buffer` (partitioned by `counts` as in `reduceScatterSum`)
    /// is copied into the same place of `buffer` on every other rank. ZeRO-1's weight step.
    func allGather<T: CommScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, counts: [Int]) throws
    /// Waits until every rank has reached the barrier.
    func barrier() throws
    /// Ends every rank of the job at once with `code`, after writing `message` (if not empty) to
    /// standard error. Used when one rank cannot go on and the others may be waiting in a collective.
    func abort(code: Int32, message: String) -> Never
}

/// A reduction operator.
public enum ReduceOp: Sendable {
    case sum, max, min
}

/// The element types collectives can move. The conformances below are the complete list.
public protocol CommScalar: Sendable {
    static var commKind: CommScalarKind { get }
}

/// The element kinds of `CommScalar`, mapped to MPI datatypes by `MPICommunicator`.
public enum CommScalarKind: Sendable {
    case float32, float64, int32, int64, byte
}

extension Float: CommScalar { public static var commKind: CommScalarKind { .float32 } }
extension Double: CommScalar { public static var commKind: CommScalarKind { .float64 } }
extension Int32: CommScalar { public static var commKind: CommScalarKind { .int32 } }
extension Int64: CommScalar { public static var commKind: CommScalarKind { .int64 } }
extension UInt8: CommScalar { public static var commKind: CommScalarKind { .byte } }

/// A non-blocking collective in flight.
public protocol CommRequest: AnyObject {
    /// Blocks until the operation has completed.
    func wait() throws
    /// Returns whether the operation has completed, driving its progress; never blocks.
    func test() throws -> Bool
}
