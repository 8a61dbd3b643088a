import CMPI

#if canImport(Glibc)
import Glibc
#endif

/// A communicator over MPI_COMM_WORLD.
///
/// The first instance initializes MPI (MPI_Init_thread at MPI_THREAD_SERIALIZED: the main thread
/// and the gradient-exchange thread of `BucketedExchange` both call MPI, never at the same time)
/// and registers MPI_Finalize to run once at process exit. Errors on the world
/// communicator return codes instead of aborting, and each failed call is thrown as an `MPIError`
/// naming the call and carrying MPI_Error_string.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    public let localSize: Int
    public let hostname: String
    public let libraryVersion: String
    private let world: MPI_Comm
    private let local: MPI_Comm

    /// The `MCADefaults` this process set before MPI_Init (those the user had not set).
    public nonisolated(unsafe) private(set) static var appliedMCADefaults: [MCADefaults.Setting] = []

    public init() throws {
        try MPICommunicator.initializeOnce()
        world = cmpi_comm_world()
        try check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler")

        var value: Int32 = 0
        try check(MPI_Comm_rank(world, &value), "MPI_Comm_rank")
        rank = Int(value)
        try check(MPI_Comm_size(world, &value), "MPI_Comm_size")
        size = Int(value)

        var node: MPI_Comm? = cmpi_comm_null()
        try check(
            MPI_Comm_split_type(world, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &node),
            "MPI_Comm_split_type")
        guard let node else { throw MPIError(call: "MPI_Comm_split_type", message: "returned no communicator") }
        local = node
        try check(MPI_Comm_rank(local, &value), "MPI_Comm_rank")
        localRank = Int(value)
        try check(MPI_Comm_size(local, &value), "MPI_Comm_size")
        localSize = Int(value)

        var name = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        try check(MPI_Get_processor_name(&name, &length), "MPI_Get_processor_name")
        hostname = decodeCString(name, length: Int(length))

        var version = [CChar](repeating: 0, count: Int(cmpi_max_library_version_string()) + 1)
        try check(MPI_Get_library_version(&version, &length), "MPI_Get_library_version")
        libraryVersion = decodeCString(version, length: Int(length))
            .split(separator: ",").first.map(String.init) ?? "unknown"
    }

    /// Initializes MPI unless this process already did; registers MPI_Finalize for exit.
    private static func initializeOnce() throws {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        guard initialized == 0 else { return }
        let defaults = MCADefaults.unset(
            environment: { name in getenv(name).map { String(cString: $0) } },
            readFile: readTextFile)
        for setting in defaults { setenv("OMPI_MCA_" + setting.name, setting.value, 0) }
        appliedMCADefaults = defaults
        var provided: Int32 = 0
        let code = MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided)
        guard code == cmpi_success() else {
            throw MPIError(call: "MPI_Init_thread", message: errorString(code), code: code)
        }
        // The levels are ordered: FUNNELED < SERIALIZED < MULTIPLE.
        guard provided >= cmpi_thread_serialized() else {
            throw MPIError(
                call: "MPI_Init_thread",
                message: "this MPI library provides thread level \(provided), below MPI_THREAD_SERIALIZED (\(cmpi_thread_serialized())), which the communication thread that overlaps the gradient all-reduce with backward needs; use an MPI built with thread support (OpenMPI 4.1 has it)")
        }
        atexit {
            var finalized: Int32 = 0
            MPI_Finalized(&finalized)
            if finalized == 0 { MPI_Finalize() }
        }
    }

    public func allReduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOp) throws {
        try check(
            MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, try count(buffer.count), datatype(T.self),
                          mpiOp(op), world),
            "MPI_Allreduce")
    }

    public func startAllReduceSum<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>) throws -> CommRequest {
        let request = MPIRequest(call: "MPI_Iallreduce")
        try check(
            MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress, try count(buffer.count), datatype(T.self),
                           cmpi_op_sum(), world, &request.handle),
            "MPI_Iallreduce")
        return request
    }

    public func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        try check(
            MPI_Bcast(buffer.baseAddress, try count(buffer.count), datatype(T.self), Int32(clamping: root), world),
            "MPI_Bcast")
    }

    public func allGather<T: CommScalar>(_ local: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>) throws {
        guard result.count == local.count * size else {
            throw MPIError(call: "MPI_Allgather", message: "the result holds \(result.count) elements, not size × \(local.count)")
        }
        let n = try count(local.count)
        try check(
            MPI_Allgather(local.baseAddress, n, datatype(T.self), result.baseAddress, n, datatype(T.self), world),
            "MPI_Allgather")
    }

    public func reduceScatterSum<T: CommScalar>(
        _ buffer: UnsafeBufferPointer<T>, into shard: UnsafeMutableBufferPointer<T>, counts: [Int]
    ) throws {
        try checkPartition(counts, total: buffer.count, call: "MPI_Reduce_scatter")
        guard shard.count == counts[rank] else {
            throw MPIError(call: "MPI_Reduce_scatter", message: "the shard holds \(shard.count) elements, not \(counts[rank])")
        }
        let counts32 = try counts.map { try count($0) }
        try check(
            MPI_Reduce_scatter(buffer.baseAddress, shard.baseAddress, counts32, datatype(T.self), cmpi_op_sum(), world),
            "MPI_Reduce_scatter")
    }

    public func allGather<T: CommScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, counts: [Int]) throws {
        try checkPartition(counts, total: buffer.count, call: "MPI_Allgatherv")
        let counts32 = try counts.map { try count($0) }
        var offsets: [Int32] = [], offset = 0
        for n in counts { offsets.append(try count(offset)); offset += n }
        try check(
            MPI_Allgatherv(cmpi_in_place(), 0, datatype(T.self), buffer.baseAddress, counts32, offsets, datatype(T.self), world),
            "MPI_Allgatherv")
    }

    private func checkPartition(_ counts: [Int], total: Int, call: String) throws {
        guard counts.count == size, counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == total else {
            throw MPIError(call: call, message: "counts \(counts) do not partition \(total) elements over \(size) ranks")
        }
    }

    public func barrier() throws {
        try check(MPI_Barrier(world), "MPI_Barrier")
    }

    public func makeExchangeChannel() throws -> any ExchangeChannel {
        var duplicate: MPI_Comm? = cmpi_comm_null()
        try check(MPI_Comm_dup(world, &duplicate), "MPI_Comm_dup")
        guard let duplicate else { throw MPIError(call: "MPI_Comm_dup", message: "returned no communicator") }
        try check(MPI_Comm_set_errhandler(duplicate, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        return MPIExchangeChannel(
            comm: duplicate, rank: rank, size: size,
            policy: .from { name in getenv(name).map { String(cString: $0) } })
    }

    public func makeHostChannels(enabled: Bool) throws -> HostChannels? {
        // The hosts as MPI sees them (shared memory), or for tests on one machine
        // DPTRAIN_TEST_HOSTS=H: H "hosts" of W/H consecutive ranks each (as mpirun places ranks
        // by slot), or H:cyclic: rank r on host r mod H (as mpirun --map-by node places them).
        var (L, l, pseudoHost) = (localSize, localRank, Int?.none)
        if let text = getenv("DPTRAIN_TEST_HOSTS").map({ String(cString: $0) }) {
            let cyclic = text.hasSuffix(":cyclic")
            if let H = Int(cyclic ? String(text.dropLast(":cyclic".count)) : text), H > 1, size % H == 0 {
                L = size / H
                (l, pseudoHost) = cyclic ? (rank / H, rank % H) : (rank % L, rank / L)
            }
        }
        // max of (L, −L, −enabled): every host has the same L exactly when max L = min L.
        var agreed: [Int32] = [Int32(L), -Int32(L), enabled ? -1 : 0]
        try check(MPI_Allreduce(cmpi_in_place(), &agreed, 3, cmpi_int32(), cmpi_op_max(), world), "MPI_Allreduce")
        guard agreed[0] == -agreed[1], agreed[2] == -1, L > 1, size > L else { return nil }
        var cross: MPI_Comm? = cmpi_comm_null(), host: MPI_Comm? = cmpi_comm_null()
        try check(MPI_Comm_split(world, Int32(l), Int32(rank), &cross), "MPI_Comm_split")
        if let pseudoHost {
            try check(MPI_Comm_split(world, Int32(pseudoHost), Int32(rank), &host), "MPI_Comm_split")
        } else {
            try check(MPI_Comm_dup(local, &host), "MPI_Comm_dup")
        }
        guard let cross, let host else { throw MPIError(call: "MPI_Comm_split", message: "returned no communicator") }
        try check(MPI_Comm_set_errhandler(cross, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        try check(MPI_Comm_set_errhandler(host, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        var crossRank: Int32 = 0, crossSize: Int32 = 0
        try check(MPI_Comm_rank(cross, &crossRank), "MPI_Comm_rank")
        try check(MPI_Comm_size(cross, &crossSize), "MPI_Comm_size")
        // Who is where, for ZeRO-1's parts: every rank's host (its host's lowest world rank) and local rank.
        var key = Int32(rank)
        try check(MPI_Allreduce(cmpi_in_place(), &key, 1, cmpi_int32(), cmpi_op_min(), host), "MPI_Allreduce")
        var mine: [Int32] = [key, Int32(l)], all = [Int32](repeating: 0, count: 2 * size)
        try check(MPI_Allgather(&mine, 2, cmpi_int32(), &all, 2, cmpi_int32(), world), "MPI_Allgather")
        let keys = stride(from: 0, to: all.count, by: 2).map { Int(all[$0]) }
        let locals = stride(from: 1, to: all.count, by: 2).map { Int(all[$0]) }
        guard let tables = HostChannels.tables(hostKeys: keys, localRanks: locals, localSize: L, crossLocalRank: l),
              tables.crossWorldRanks.count == Int(crossSize), tables.crossWorldRanks[Int(crossRank)] == rank else {
            throw MPIError(call: "makeHostChannels", message: "the hosts' ranks do not form \(size / L) hosts of \(L) ranks numbered alike")
        }
        let policy = ExchangeWaitPolicy.from { name in getenv(name).map { String(cString: $0) } }
        return HostChannels(
            local: MPIExchangeChannel(comm: host, rank: l, size: L, policy: policy),
            cross: MPIExchangeChannel(comm: cross, rank: Int(crossRank), size: Int(crossSize), policy: policy),
            worldRanks: tables.worldRanks, crossWorldRanks: tables.crossWorldRanks)
    }

    public func abort(code: Int32, message: String) -> Never {
        writeToStandardError(message)
        MPI_Abort(world, code)
        exit(code)  // MPI_Abort does not return; this satisfies the type checker.
    }

    /// MPI counts are 32-bit; larger buffers must be split by the caller.
    private func count(_ n: Int) throws -> Int32 {
        guard let value = Int32(exactly: n) else {
            throw MPIError(call: "count", message: "\(n) elements exceed MPI's 32-bit count")
        }
        return value
    }
}

/// Point-to-point messages on a duplicate of the world communicator (its own message space, so
/// they never match a collective of the world's), waited for by polling with sleeps.
final class MPIExchangeChannel: ExchangeChannel {
    let comm: MPI_Comm
    let rank: Int
    let size: Int
    let policy: ExchangeWaitPolicy
    private var requests: [MPI_Request?] = [cmpi_request_null(), cmpi_request_null()]

    init(comm: MPI_Comm, rank: Int, size: Int, policy: ExchangeWaitPolicy) {
        self.comm = comm
        self.rank = rank
        self.size = size
        self.policy = policy
    }

    func exchange<T: CommScalar>(
        send: UnsafeBufferPointer<T>, to: Int, receive: UnsafeMutableBufferPointer<T>, from: Int
    ) throws {
        guard let sendCount = Int32(exactly: send.count), let receiveCount = Int32(exactly: receive.count) else {
            throw MPIError(call: "exchange", message: "\(max(send.count, receive.count)) elements exceed MPI's 32-bit count")
        }
        // One tag: messages between two ranks on one communicator arrive in the order sent, and
        // the exchange thread sends them in the same order on every rank.
        try check(
            MPI_Irecv(receive.baseAddress, receiveCount, datatype(T.self), Int32(from), 0, comm, &requests[1]),
            "MPI_Irecv")
        try check(
            MPI_Isend(UnsafeMutableRawPointer(mutating: send.baseAddress), sendCount, datatype(T.self), Int32(to), 0, comm, &requests[0]),
            "MPI_Isend")
        let start = monotonicSeconds()
        var pause = timespec(tv_sec: 0, tv_nsec: Int(policy.sleep * 1e9))
        while true {
            var done: Int32 = 0
            try check(MPI_Testall(2, &requests, &done, cmpi_statuses_ignore()), "MPI_Testall")
            if done != 0 { return }
            if policy.sleep > 0 && monotonicSeconds() - start >= policy.spin { nanosleep(&pause, nil) }
        }
    }
}

/// The contents of a small text file, or nil when it cannot be read.
private func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Seconds of `clock`.
private func clockSeconds(_ clock: clockid_t) -> Double {
    var now = timespec()
    clock_gettime(clock, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// Seconds of the monotonic clock.
func monotonicSeconds() -> Double { clockSeconds(CLOCK_MONOTONIC) }

/// CPU seconds of the calling thread (user and system).
func threadCPUSeconds() -> Double { clockSeconds(CLOCK_THREAD_CPUTIME_ID) }

/// A non-blocking MPI operation.
final class MPIRequest: CommRequest {
    var handle: MPI_Request? = cmpi_request_null()
    let call: String

    init(call: String) { self.call = call }

    func wait() throws {
        try check(MPI_Wait(&handle, cmpi_status_ignore()), "MPI_Wait (\(call))")
    }

    func test() throws -> Bool {
        var done: Int32 = 0
        try check(MPI_Test(&handle, &done, cmpi_status_ignore()), "MPI_Test (\(call))")
        return done != 0
    }
}

private func datatype<T: CommScalar>(_ type: T.Type) -> MPI_Datatype {
    switch T.commKind {
    case .float32: cmpi_float()
    case .float64: cmpi_double()
    case .int32: cmpi_int32()
    case .int64: cmpi_int64()
    case .byte: cmpi_byte()
    case .uint16: cmpi_uint16()
    }
}

private func mpiOp(_ op: ReduceOp) -> MPI_Op {
    switch op {
    case .sum: cmpi_op_sum()
    case .max: cmpi_op_max()
    case .min: cmpi_op_min()
    }
}

/// Turns an MPI return code into a thrown `MPIError` tagged with the call.
private func check(_ code: Int32, _ call: String) throws {
    guard code != cmpi_success() else { return }
    throw MPIError(call: call, message: errorString(code), code: code)
}

private func errorString(_ code: Int32) -> String {
    var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(code, &text, &length) == cmpi_success() else { return "MPI error \(code)" }
    return decodeCString(text, length: Int(length))
}

private func decodeCString(_ chars: [CChar], length: Int) -> String {
    String(decoding: chars.prefix(max(0, min(length, chars.count))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
