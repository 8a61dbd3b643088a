// mpi-probe: exercises every Communicator operation and prints one line per check and rank,
// `rank R/W CHECK ok` or `rank R/W CHECK FAIL detail`, for the MPI tests to parse.
//
//   mpirun -n 4 --oversubscribe .build/release/mpi-probe           every check
//   mpirun -n 4 --oversubscribe .build/release/mpi-probe abort     rank 1 aborts while the others wait
//   .build/release/mpi-probe                                       the same checks on SoloCommunicator
import DPComm

#if canImport(Glibc)
import Glibc
#endif

let comm: any Communicator
do {
    comm = try Launcher.communicator(singleProcess: false, environment: ProcessInfoLite.environment)
} catch {
    print("rank ?/? init FAIL \(error)")
    exit(1)
}
let (rank, size) = (comm.rank, comm.size)
var failures = 0

@MainActor func report(_ name: String, _ body: () throws -> String?) {
    do {
        if let problem = try body() {
            failures += 1
            print("rank \(rank)/\(size) \(name) FAIL \(problem)")
        } else {
            print("rank \(rank)/\(size) \(name) ok")
        }
    } catch {
        failures += 1
        print("rank \(rank)/\(size) \(name) FAIL threw \(error)")
    }
}

/// Element i of rank r contributes (r + 1)·(i + 1); the sum over ranks is (i + 1)·W(W+1)/2.
@MainActor func sumCheck<T: CommScalar & Numeric & Comparable>(_ type: T.Type, count: Int = 1000) throws -> String? {
    let total = size * (size + 1) / 2
    var buffer = (0..<count).map { T(exactly: (rank + 1) * ($0 + 1))! }
    try buffer.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
    for i in 0..<count where buffer[i] != T(exactly: total * (i + 1))! {
        return "element \(i) is \(buffer[i]), expected \(total * (i + 1))"
    }
    return nil
}

if CommandLine.arguments.dropFirst().first == "abort" {
    if rank == 1 { comm.abort(code: 3, message: "mpi-probe: rank 1 aborts on purpose") }
    try? comm.barrier()  // ranks other than 1 wait here until the abort ends them
    print("rank \(rank)/\(size) abort FAIL survived")
    exit(1)
}

report("sum-float") { try sumCheck(Float.self) }
report("sum-double") { try sumCheck(Double.self) }
report("sum-int64") { try sumCheck(Int64.self) }
report("max") {
    let value = try comm.max(Double(rank))
    return value == Double(size - 1) ? nil : "max is \(value)"
}
report("min") {
    let value = try comm.min(Int64(rank + 10))
    return value == 10 ? nil : "min is \(value)"
}
report("broadcast") {
    let root = size - 1
    var buffer = [Float](repeating: Float(rank), count: 4096)
    try buffer.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: root) }
    return buffer.allSatisfy { $0 == Float(root) } ? nil : "got \(buffer[0]) from root \(root)"
}
report("broadcast-string") {
    let text = try comm.broadcast(string: rank == 0 ? "héllo wörld" : "", root: 0)
    return text == "héllo wörld" ? nil : "got \(text)"
}
report("allgather") {
    let names = try comm.allGather(string: String(repeating: "r", count: rank + 1))
    let expected = (0..<size).map { String(repeating: "r", count: $0 + 1) }
    return names == expected ? nil : "got \(names)"
}
report("barrier") { try comm.barrier(); return nil }
report("iallreduce") {
    var buffer = [Float](repeating: Float(rank + 1), count: 1 << 16)
    try buffer.withUnsafeMutableBufferPointer { pointer in
        let request = try comm.startAllReduceSum(pointer)
        while try !request.test() {}
        try request.wait()
    }
    let total = Float(size * (size + 1) / 2)
    return buffer.allSatisfy { $0 == total } ? nil : "got \(buffer[0]), expected \(total)"
}
/// Uneven parts (rank r owns r + 3 elements) so that offsets and counts are really checked.
let parts = (0..<size).map { $0 + 3 }, partStart = parts[..<rank].reduce(0, +)
report("reduce-scatter") {
    let total = parts.reduce(0, +), ranksSum = Float(size * (size + 1) / 2)
    let buffer = (0..<total).map { Float((rank + 1) * ($0 + 1)) }
    var shard = [Float](repeating: -1, count: parts[rank])
    try buffer.withUnsafeBufferPointer { input in
        try shard.withUnsafeMutableBufferPointer { try comm.reduceScatterSum(input, into: $0, counts: parts) }
    }
    let expected = (0..<parts[rank]).map { ranksSum * Float(partStart + $0 + 1) }
    return shard == expected ? nil : "got \(shard), expected \(expected)"
}
report("allgather-in-place") {
    let total = parts.reduce(0, +)
    var buffer = [Float](repeating: -1, count: total)
    for i in partStart..<(partStart + parts[rank]) { buffer[i] = Float(rank * 100 + i) }
    try buffer.withUnsafeMutableBufferPointer { try comm.allGather(inPlace: $0, counts: parts) }
    var owner = 0, end = parts[0]
    for i in 0..<total {
        while i >= end { owner += 1; end += parts[owner] }
        if buffer[i] != Float(owner * 100 + i) { return "element \(i) is \(buffer[i]), expected \(owner * 100 + i)" }
    }
    return nil
}
report("local") {
    // Every rank of these tests runs on one host.
    comm.localSize == size && comm.localRank == rank ? nil : "local \(comm.localRank)/\(comm.localSize)"
}
report("mpi-error") {
    var buffer = [Float](repeating: 0, count: 4)
    do {
        try buffer.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: size + 5) }
        return "a broadcast from a rank that does not exist did not throw"
    } catch let error as MPIError {
        guard error.call == "MPI_Bcast" || error.call == "broadcast" else { return "wrong call \(error.call)" }
    }
    try comm.barrier()  // and the job goes on
    return nil
}
report("collectively") {
    let failing = size > 1 ? 1 : 0
    do {
        _ = try comm.collectively { () throws -> Int in
            if rank == failing { throw MPIError(call: "probe", message: "fails on rank \(rank)") }
            return rank
        }
        return "no rank saw the failure"
    } catch let failure as RankFailure {
        let expected = "probe failed: fails on rank \(failing)"
        return failure.rank == failing && failure.message == expected ? nil : "got \(failure.rank): \(failure.message)"
    }
}
print("rank \(rank)/\(size) done failures=\(failures)")
exit(failures == 0 ? 0 : 1)
