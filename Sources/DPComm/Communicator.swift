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
    /// A point-to-point channel of its own for a communication thread (MPI: a duplicate of the
    /// world communicator, so its messages never match the world's). Collective: every rank calls
    /// it, in the same order as the other collectives.
    func makeExchangeChannel() throws -> any ExchangeChannel
    /// The two channels of the exchange in two levels (`HostChannels`), or nil when the job runs
    /// on one host, has one rank on every host, has hosts with different numbers of ranks, or
    /// `enabled` is false on some rank. Collective: every rank calls it, in the same order as the
    /// other collectives, and all get channels or all get nil.
    func makeHostChannels(enabled: Bool) throws -> HostChannels?
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
    case float32, float64, int32, int64, byte, uint16
}

extension Float: CommScalar { public static var commKind: CommScalarKind { .float32 } }
extension Double: CommScalar { public static var commKind: CommScalarKind { .float64 } }
extension Int32: CommScalar { public static var commKind: CommScalarKind { .int32 } }
extension Int64: CommScalar { public static var commKind: CommScalarKind { .int64 } }
extension UInt8: CommScalar { public static var commKind: CommScalarKind { .byte } }
/// bfloat16 bit patterns (see `BFloat16`) travel as UInt16.
extension UInt16: CommScalar { public static var commKind: CommScalarKind { .uint16 } }

/// A non-blocking collective in flight.
public protocol CommRequest: AnyObject {
    /// Blocks until the operation has completed.
    func wait() throws
    /// Returns whether the operation has completed, driving its progress; never blocks.
    func test() throws -> Bool
}

/// Point-to-point messages between the ranks of a job, for the bucketed gradient exchange
/// (`BucketedExchange`), which runs them on its own thread while the main thread computes.
///
/// Used by one thread at a time; the main thread makes no call on the communicator while that
/// thread exchanges (MPI_THREAD_SERIALIZED).
public protocol ExchangeChannel: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Sends `send` to rank `to` while receiving `receive.count` elements from rank `from`;
    /// returns when both are complete. Waits without spinning on the core: it tests for
    /// completion and sleeps briefly between tests (see `ExchangeWaitPolicy`).
    func exchange<T: CommScalar>(
        send: UnsafeBufferPointer<T>, to: Int, receive: UnsafeMutableBufferPointer<T>, from: Int) throws
}

/// The gradient exchange in two levels, for jobs of H hosts with L ranks each: `local` joins
/// the L ranks of this host (shared memory; rank = the local rank), `cross` joins the H ranks with
/// this rank's local rank, one on every host (ordered by world rank).
public struct HostChannels {
    public let local: any ExchangeChannel
    public let cross: any ExchangeChannel
    /// `worldRanks[h][l]`: the world rank of local rank l on host h, hosts ordered by their
    /// lowest world rank (the same table on every rank).
    public let worldRanks: [[Int]]
    /// The world rank of each rank of `cross`, in its rank order.
    public let crossWorldRanks: [Int]
    public init(local: any ExchangeChannel, cross: any ExchangeChannel, worldRanks: [[Int]], crossWorldRanks: [Int]) {
        self.local = local
        self.cross = cross
        self.worldRanks = worldRanks
        self.crossWorldRanks = crossWorldRanks
    }

    /// The table of `worldRanks` and `crossWorldRanks` from every world rank's (host key, local
    /// rank), indexed by world rank; the host key is any number the ranks of one host share. Nil
    /// when the hosts do not all hold `localSize` ranks numbered 0..<localSize.
    public static func tables(hostKeys: [Int], localRanks: [Int], localSize L: Int, crossLocalRank l: Int) -> (worldRanks: [[Int]], crossWorldRanks: [Int])? {
        guard hostKeys.count == localRanks.count else { return nil }
        var byHost: [Int: [Int?]] = [:]
        for (g, key) in hostKeys.enumerated() {
            let local = localRanks[g]
            guard local >= 0, local < L else { return nil }
            var ranks = byHost[key] ?? Array(repeating: nil, count: L)
            guard ranks[local] == nil else { return nil }
            ranks[local] = g
            byHost[key] = ranks
        }
        var table: [[Int]] = []
        for ranks in byHost.values {
            let complete = ranks.compactMap { $0 }
            guard complete.count == L else { return nil }
            table.append(complete)
        }
        table.sort { $0.min()! < $1.min()! }
        let cross = (0..<hostKeys.count).filter { localRanks[$0] == l }
        return (table, cross)
    }
}

/// How an `ExchangeChannel` waits for its messages: test for completion for up to `spin`
/// seconds, then sleep `sleep` seconds between tests. A thread that only spins takes the core
/// the backward pass needs (OpenMPI's blocking calls spin, even with mpi_yield_when_idle), while
/// the TCP and shared-memory transports move data only inside an MPI call on this process.
public struct ExchangeWaitPolicy: Sendable, Equatable {
    public var spin: Double
    public var sleep: Double
    public init(spin: Double, sleep: Double) {
        self.spin = spin
        self.sleep = sleep
    }
    /// Measured on the 2-core machine (README, "Several machines: performance").
    public static let `default` = ExchangeWaitPolicy(spin: 20e-6, sleep: 100e-6)

    /// The default, or DPTRAIN_EXCHANGE_SPIN_US / DPTRAIN_EXCHANGE_SLEEP_US (microseconds) when
    /// set: tuning knobs for measuring other machines.
    public static func from(environment: (String) -> String?) -> ExchangeWaitPolicy {
        var policy = ExchangeWaitPolicy.default
        if let text = environment("DPTRAIN_EXCHANGE_SPIN_US"), let us = Double(text), us >= 0 { policy.spin = us * 1e-6 }
        if let text = environment("DPTRAIN_EXCHANGE_SLEEP_US"), let us = Double(text), us >= 0 { policy.sleep = us * 1e-6 }
        return policy
    }
}
