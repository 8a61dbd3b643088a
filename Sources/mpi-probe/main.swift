// mpi-probe: exercises every Communicator operation and prints one line per check and rank,
// `rank R/W CHECK ok` or `rank R/W CHECK FAIL detail`, for the MPI tests to parse.
//
//   mpirun -n 4 --oversubscribe .build/release/mpi-probe           every check
//   mpirun -n 4 --oversubscribe .build/release/mpi-probe abort     rank 1 aborts while the others wait
//   mpirun -n 4 --oversubscribe .build/release/mpi-probe bucket-fault   the highest rank fails in the
//                                                    middle of a bucket's ring; it aborts the job
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

if CommandLine.arguments.dropFirst().first == "bucket-fault" {
    // The highest rank's exchange thread fails before the second hop of bucket 1, while the
    // other ranks' threads wait in that hop for its message: it must end every rank.
    var gradients = [Float](repeating: 1, count: 40_000)
    let failing = size - 1
    do {
        try gradients.withUnsafeMutableBufferPointer { buffer in
            let exchange = try BucketedExchange(
                channel: try comm.makeExchangeChannel(), gradients: buffer, bucketElements: 10_000, compression: .bf16)
            if rank == failing {
                exchange.beforeHop = { bucket, hop in
                    if bucket == 1 && hop == 1 { throw MPIError(call: "probe", message: "bucket 1 fails on purpose") }
                }
            }
            exchange.begin()
            _ = try exchange.finish()
        }
    } catch {
        comm.abort(code: 4, message: "mpi-probe: rank \(rank): \(error)")
    }
    print("rank \(rank)/\(size) bucket-fault FAIL survived")
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

// ---- the bucketed exchange (BucketedExchange), against a reference written out here ----------

/// Rank r's value at index i: seeded, of varied sign and magnitude (2^-20 … 2^10), with exact
/// ties for bfloat16 every so often (low 16 bits 0x8000) so that round-to-even is exercised.
func probeValue(rank r: Int, index i: Int) -> Float {
    var z = UInt64(r &* 1_000_003 &+ i) &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    let mantissa = Float(z & 0xFFFFFF) / Float(1 << 24) + 0.5
    let exponent = Int((z >> 24) % 31) - 20
    var x = Float(sign: (z >> 40) & 1 == 0 ? .plus : .minus, exponent: exponent, significand: mantissa)
    if i % 7 == 3 { x = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) | 0x8000) }
    return x
}

/// Round to nearest bfloat16, ties to even, by comparing distances to the two neighbours in
/// Double arithmetic (independent of the bit trick in `BFloat16.bits`); finite inputs only.
func referenceBF16(_ x: Float) -> Float {
    let down = Float(bitPattern: x.bitPattern & 0xFFFF_0000)
    let up = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) &+ 0x1_0000)
    let dDown = abs(Double(x) - Double(down)), dUp = abs(Double(up) - Double(x))
    if dDown < dUp { return down }
    if dUp < dDown { return up }
    return (down.bitPattern >> 16) & 1 == 0 ? down : up
}

/// Which chunk (rank) of `bucket` index i falls in: equal parts, or the shards `counts`.
@MainActor func chunkOwner(_ i: Int, bucket: Range<Int>, counts: [Int]?) -> Int {
    if let counts {
        var start = 0
        for (c, n) in counts.enumerated() { if i < start + n { return c }; start += n }
        return counts.count - 1
    }
    let n = bucket.count
    return (0..<size).first { c in i < bucket.lowerBound + n * (c + 1) / size }!
}

/// The value the ring must produce at index i: chunk c is summed from rank c + 1 on, in ring
/// order; with bf16 every partial is rounded before it is sent and the complete sum once more.
@MainActor func ringExpected(_ i: Int, owner c: Int, bf16: Bool) -> Float {
    var partial = probeValue(rank: (c + 1) % size, index: i)
    for j in 2..<(size + 1) {
        let received = bf16 ? referenceBF16(partial) : partial
        partial = received + probeValue(rank: (c + j) % size, index: i)
    }
    return bf16 ? referenceBF16(partial) : partial
}

/// ZeRO-1 in two levels over `hosts` pseudo-hosts (DPTRAIN_TEST_HOSTS) of L consecutive ranks,
/// or with `cyclic` rank r on host r mod H: the owner g = (host h, local rank l)'s element i is,
/// on every host, summed within the host in binary32 from local rank l + 1 on, and those host
/// sums across the hosts from host h + 1 on, in ring order (rounded to bfloat16 before each
/// cross-host hop and once at the end with bf16).
@MainActor func twoLevelExpected(_ i: Int, owner g: Int, hosts H: Int, cyclic: Bool, bf16: Bool) -> Float {
    let L = size / H, (h, l) = cyclic ? (g % H, g / H) : (g / L, g % L)
    func worldRank(host: Int, local: Int) -> Int { cyclic ? local * H + host : host * L + local }
    func hostSum(_ host: Int) -> Float {
        var partial = probeValue(rank: worldRank(host: host, local: (l + 1) % L), index: i)
        for j in stride(from: 2, through: L, by: 1) { partial = partial + probeValue(rank: worldRank(host: host, local: (l + j) % L), index: i) }
        return partial
    }
    var partial = hostSum((h + 1) % H)
    for j in stride(from: 2, through: H, by: 1) { partial = (bf16 ? referenceBF16(partial) : partial) + hostSum((h + j) % H) }
    return bf16 ? referenceBF16(partial) : partial
}

/// The exchange in two levels over DPTRAIN_TEST_HOSTS=2 (or 2:cyclic) pseudo-hosts (needs 4 or
/// more ranks).
@MainActor func pseudoHosts(cyclic: Bool) throws -> HostChannels? {
    setenv("DPTRAIN_TEST_HOSTS", cyclic ? "2:cyclic" : "2", 1)
    defer { unsetenv("DPTRAIN_TEST_HOSTS") }
    return try comm.makeHostChannels(enabled: true)
}

/// Runs one bucketed step over `count` gradients, reporting readiness the way backward does
/// (every 300 elements from the end), and checks every element against `ringExpected` (or
/// `twoLevelExpected` with two pseudo-hosts).
@MainActor func bucketCheck(
    count: Int, bucketElements: Int, compression: GradientCompression, counts: [Int]?, twoLevels: Bool = false, cyclic: Bool = false
) throws -> String? {
    let hosts = twoLevels ? try pseudoHosts(cyclic: cyclic) : nil
    if twoLevels && hosts == nil { return "no two-level channels for \(size) ranks" }
    var gradients = (0..<count).map { probeValue(rank: rank, index: $0) }
    var shard = [Float](repeating: .nan, count: counts?[rank] ?? 0)
    let shardStart = counts.map { $0[..<rank].reduce(0, +) } ?? 0
    let buckets = BucketedExchange.buckets(count: count, bucketElements: bucketElements)
    return try gradients.withUnsafeMutableBufferPointer { buffer in
        try shard.withUnsafeMutableBufferPointer { shardBuffer in
            let exchange = try BucketedExchange(
                channel: try comm.makeExchangeChannel(), gradients: buffer, bucketElements: bucketElements,
                compression: compression, shardCounts: counts, shard: counts == nil ? nil : shardBuffer, hosts: hosts)
            guard exchange.buckets == buckets else { return "buckets \(exchange.buckets)" }
            for step in 0..<2 {  // twice: the exchange is reused step after step
                if step == 1 { for i in 0..<count { buffer[i] = probeValue(rank: rank, index: i) } }
                exchange.begin()
                var k = count
                while k > 0 { k = max(0, k - 300); exchange.ready(from: k) }
                _ = try exchange.finish()
            }
            let checked = counts == nil ? 0..<count : shardStart..<(shardStart + counts![rank])
            for i in checked {
                let bucket = buckets.first { $0.contains(i) }!
                let owner = chunkOwner(i, bucket: bucket, counts: counts), bf16 = compression == .bf16
                let expected = twoLevels ? twoLevelExpected(i, owner: owner, hosts: 2, cyclic: cyclic, bf16: bf16) : ringExpected(i, owner: owner, bf16: bf16)
                let got = counts == nil ? buffer[i] : shardBuffer[i - shardStart]
                if got.bitPattern != expected.bitPattern { return "element \(i) is \(got), expected \(expected)" }
            }
            return nil
        }
    }
}

/// Uneven shards with an empty one (rank 0's), as ZeRO-1's partition of a small layout can be.
@MainActor func probeShards(count: Int) -> [Int] {
    var counts = (0..<size).map { $0 == 0 ? 0 : count / size + $0 * 7 }
    counts[size - 1] += count - counts.reduce(0, +)
    return counts
}

report("bucketed-f32") { try bucketCheck(count: 10_007, bucketElements: 2_500, compression: .none, counts: nil) }
report("bucketed-bf16") { try bucketCheck(count: 10_007, bucketElements: 2_500, compression: .bf16, counts: nil) }
report("bucketed-one-bucket") { try bucketCheck(count: 5_001, bucketElements: 0, compression: .bf16, counts: nil) }
report("bucketed-tiny-buckets") { try bucketCheck(count: 1_001, bucketElements: 3, compression: .none, counts: nil) }
report("bucketed-shards-f32") { try bucketCheck(count: 10_007, bucketElements: 2_500, compression: .none, counts: probeShards(count: 10_007)) }
report("bucketed-shards-bf16") { try bucketCheck(count: 10_007, bucketElements: 1_000, compression: .bf16, counts: probeShards(count: 10_007)) }
if size >= 4 && size % 2 == 0 {
    report("bucketed-two-levels-shards-f32") {
        try bucketCheck(count: 10_007, bucketElements: 2_500, compression: .none, counts: probeShards(count: 10_007), twoLevels: true)
    }
    report("bucketed-two-levels-shards-bf16") {
        try bucketCheck(count: 10_007, bucketElements: 1_000, compression: .bf16, counts: probeShards(count: 10_007), twoLevels: true)
    }
    report("bucketed-two-levels-cyclic-shards-f32") {
        try bucketCheck(count: 10_007, bucketElements: 2_500, compression: .none, counts: probeShards(count: 10_007), twoLevels: true, cyclic: true)
    }
}
@MainActor func allGatherCheck(twoLevels: Bool, cyclic: Bool = false) throws -> String? {
    let hosts = twoLevels ? try pseudoHosts(cyclic: cyclic) : nil
    if twoLevels && hosts == nil { return "no two-level channels for \(size) ranks" }
    let count = 10_007, counts = probeShards(count: count)
    let start = counts[..<rank].reduce(0, +)
    var weights = [Float](repeating: -1, count: count)
    for i in start..<(start + counts[rank]) { weights[i] = Float(i) + 0.25 }
    var gradients = [Float](repeating: 0, count: count), shard = [Float](repeating: 0, count: counts[rank])
    try gradients.withUnsafeMutableBufferPointer { g in
        try shard.withUnsafeMutableBufferPointer { s in
            let exchange = try BucketedExchange(
                channel: try comm.makeExchangeChannel(), gradients: g, bucketElements: 999, compression: .bf16,
                shardCounts: counts, shard: s, hosts: hosts)
            try weights.withUnsafeMutableBufferPointer { try exchange.allGather($0) }
        }
    }
    let wrong = (0..<count).first { weights[$0] != Float($0) + 0.25 }
    return wrong.map { "weight \($0) is \(weights[$0])" }
}
report("bucketed-allgather") { try allGatherCheck(twoLevels: false) }
if size >= 4 && size % 2 == 0 {
    report("bucketed-two-levels-allgather") { try allGatherCheck(twoLevels: true) }
    report("bucketed-two-levels-cyclic-allgather") { try allGatherCheck(twoLevels: true, cyclic: true) }
}
report("bucketed-after-collectives") {
    // The world communicator still works after the exchange's duplicate was used.
    try sumCheck(Float.self, count: 100)
}

print("rank \(rank)/\(size) done failures=\(failures)")
exit(failures == 0 ? 0 : 1)
