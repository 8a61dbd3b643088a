import Dispatch

/// How gradients travel between ranks.
public enum GradientCompression: String, Sendable, CaseIterable, Codable {
    /// binary32, as computed.
    case none
    /// bfloat16 on the wire (round to nearest even), summed in binary32 at every hop of the ring,
    /// back to binary32 at the end; every rank ends with the same values.
    case bf16
}

/// Time one step's exchange took, in seconds.
public struct ExchangeTimes: Sendable, Equatable {
    /// How long `finish` waited for the network after the caller's compute had ended: the
    /// communication that backward did not hide.
    public var exposed = 0.0
    /// Time the exchange thread spent sending, receiving and adding (hidden or not).
    public var busy = 0.0
    /// CPU time of the exchange thread in that time (user and system, CLOCK_THREAD_CPUTIME_ID):
    /// what the exchange took from the cores backward runs on. The kernel's work for the
    /// sockets outside this thread's system calls (softirqs) is not in it.
    public var cpu = 0.0
    public init(exposed: Double = 0, busy: Double = 0, cpu: Double = 0) {
        self.exposed = exposed
        self.busy = busy
        self.cpu = cpu
    }
}

/// The gradient all-reduce in buckets, on a thread of its own, overlapped with backward.
///
/// The flat gradient buffer of N floats is cut into contiguous buckets of at most
/// `bucketElements`, graded small towards both ends and ending where backward reports progress
/// (`buckets(count:bucketElements:frontiers:)`), reduced from the end of the buffer towards
/// offset 0 (the order in which backward finishes them: last block first, the embeddings at
/// offset 0 last). As backward reports that
/// `gradients[k...]` is final (`ready(from: k)`), every bucket that lies inside is handed to the
/// exchange thread, which reduces it with a ring over `ExchangeChannel` while backward goes on;
/// `finish` hands over the rest and waits for all. The buckets depend only on N and the bucket
/// size, so every rank issues the same messages in the same order.
///
/// The ring (W ranks, r this rank): a bucket is split into W chunks — equal parts, or for ZeRO-1
/// each rank's shard of the layout intersected with the bucket (possibly empty). Reduce-scatter:
/// in W − 1 hops each rank sends its partial sum of one chunk to rank r + 1 and adds the partial
/// it receives from r − 1 to its own values of the next chunk, so chunk c is summed in the order
/// of ranks c + 1, c + 2, …, c (mod W) and ends complete on rank c. All-gather: W − 1 more hops
/// pass the complete chunks around. Each rank sends and receives 2·(W − 1)/W of the bucket —
/// the least any all-reduce can — whatever the message size. With `.bf16` every message is
/// bfloat16: a hop adds the received bfloat16 to its binary32 values in binary32 and rounds the
/// partial sum once to send it on; the owner rounds the complete sum and every rank, the owner
/// too, takes that rounded value, so all replicas apply the same gradient.
///
/// Two levels (`hosts`, for H hosts of L ranks each), ZeRO-0: a bucket is cut into L equal
/// chunks; a ring reduce-scatter within the host (binary32, shared memory) leaves chunk l summed
/// over the host on local rank l; the L rings across the hosts (local rank l of every host) then
/// all-reduce chunk l as above (bf16 on the wire with `.bf16`, the owner's rounding for all); a
/// ring all-gather within the host gives every rank every chunk. The link between hosts carries
/// 2·(H − 1)/H of the bucket each way instead of the flat ring's 2·(W − 1)/W, and every rank ends
/// with the same values (each chunk is the result of one owner, copied). ZeRO-1: the parts are
/// the shards; for each host h in turn a reduce-scatter within the host leaves the part of (h, l)
/// summed over this host on local rank l, and the rings across the hosts reduce-scatter those,
/// so each rank ends with its own part summed over all; the weights' all-gather goes the other
/// way (across, then within). The link carries (H − 1)/H of the bucket each way for each of the
/// two, instead of the flat ring's (W − 1)/W.
///
/// Threads: `begin`, `ready`, `finish` and `allGather` are called by one thread (the trainer's);
/// it must make no other call on the communicator between `begin` and `finish` (MPI's
/// SERIALIZED level).
public final class BucketedExchange: @unchecked Sendable {
    /// The buckets in the order they are reduced: highest offsets first.
    public let buckets: [Range<Int>]
    public let compression: GradientCompression
    /// ZeRO-1: each rank's part of the buffer (`counts`, in rank order); nil reduces every
    /// bucket onto every rank.
    public let shardCounts: [Int]?
    /// The exchange in two levels (within each host, then across hosts), or nil: one ring over
    /// every rank.
    public let hosts: HostChannels?

    let channel: any ExchangeChannel
    let gradients: UnsafeMutableBufferPointer<Float>
    let shard: UnsafeMutableBufferPointer<Float>
    let shardStarts: [Int]
    private let queue = DispatchQueue(label: "dptrain.gradient-exchange", qos: .userInitiated)
    private let group = DispatchGroup()
    private let sendWire: UnsafeMutableBufferPointer<UInt16>
    private let receiveWire: UnsafeMutableBufferPointer<UInt16>
    private let receiveFloats: UnsafeMutableBufferPointer<Float>
    private let bucketWire: UnsafeMutableBufferPointer<UInt16>

    // The caller's thread only.
    private var next = 0
    private var inStep = false
    // The exchange thread between `begin` and `finish`; read by the caller after the group's wait.
    private var failure: (any Error)?
    private var busy = 0.0
    private var cpu = 0.0

    /// A test hook (fault points): called on the exchange thread before hop `hop` of bucket
    /// `bucket`; what it throws fails the step on this rank as an MPI error would.
    public var beforeHop: (@Sendable (_ bucket: Int, _ hop: Int) throws -> Void)?

    /// - Parameters:
    ///   - channel: from `Communicator.makeExchangeChannel()`.
    ///   - gradients: the flat buffer; reduced in place unless `shardCounts` is given.
    ///   - bucketElements: the largest bucket; 0 makes one bucket of everything.
    ///   - frontiers: where backward reports progress (`buckets` ends buckets there).
    ///   - shardCounts: ZeRO-1's partition (one count per rank, adding up to the buffer's count);
    ///     the reduced values of this rank's part go to `shard` (which holds `shardCounts[rank]`).
    public init(
        channel: any ExchangeChannel, gradients: UnsafeMutableBufferPointer<Float>, bucketElements: Int, frontiers: [Int] = [],
        compression: GradientCompression, shardCounts: [Int]? = nil, shard: UnsafeMutableBufferPointer<Float>? = nil,
        hosts: HostChannels? = nil
    ) throws {
        let W = channel.size, N = gradients.count
        if let counts = shardCounts {
            guard counts.count == W, counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == N,
                  let shard, shard.count == counts[channel.rank] else {
                throw MPIError(call: "BucketedExchange", message: "shard counts \(counts) do not partition \(N) gradients over \(W) ranks with this rank's shard")
            }
        }
        if let hosts {
            guard hosts.local.size * hosts.cross.size == W, hosts.worldRanks.count == hosts.cross.size,
                  hosts.worldRanks.allSatisfy({ $0.count == hosts.local.size }), hosts.crossWorldRanks.count == hosts.cross.size else {
                throw MPIError(call: "BucketedExchange", message: "the exchange in two levels needs \(W) ranks as hosts × ranks per host, not \(hosts.cross.size) × \(hosts.local.size)")
            }
        }
        self.channel = channel
        self.hosts = hosts
        self.gradients = gradients
        self.shard = shard ?? UnsafeMutableBufferPointer(start: nil, count: 0)
        self.compression = compression
        self.shardCounts = shardCounts
        var starts: [Int] = [], offset = 0
        for n in shardCounts ?? [] { starts.append(offset); offset += n }
        shardStarts = starts
        buckets = Self.buckets(count: N, bucketElements: bucketElements, frontiers: frontiers)

        let largestBucket = buckets.map(\.count).max() ?? 0
        var largestChunk = 0
        for bucket in buckets {
            // Two levels without shards: the host's chunks (1/L of a bucket) are the largest a hop
            // receives; with shards, the shards' parts at both levels.
            let ranks = shardCounts == nil ? hosts?.local.size ?? W : W
            largestChunk = Swift.max(largestChunk, Self.chunks(of: bucket, ranks: ranks, shardStarts: starts, shardCounts: shardCounts).map(\.count).max() ?? 0)
        }
        receiveFloats = .allocate(capacity: compression == .none || hosts != nil ? largestChunk : 0)
        let wire = compression == .bf16
        sendWire = .allocate(capacity: wire ? largestChunk : 0)
        receiveWire = .allocate(capacity: wire ? largestChunk : 0)
        bucketWire = .allocate(capacity: wire ? largestBucket : 0)
    }

    deinit {
        group.wait()
        receiveFloats.deallocate()
        sendWire.deallocate()
        receiveWire.deallocate()
        bucketWire.deallocate()
    }

    /// The smallest bucket: 1 MiB of binary32, at both ends of the buffer (see `buckets`).
    public static let edgeBucketElements = 262_144

    /// The buckets of a buffer of `count` floats, highest offsets first (the order backward
    /// finishes them), graded so that little is left to send when backward ends.
    ///
    /// Cut from offset 0 up: the bucket starting at x holds at most
    /// `min(bucketElements, max(e, x), max(e, (count − x) / 2))` floats, e = `edgeBucketElements`
    /// (or `bucketElements` when smaller). So the buckets grow geometrically from e at both ends:
    /// each holds no more than everything below it, which backward finishes after it — the ones
    /// final last (the first block, the embeddings at offset 0) are small, and the one reduced
    /// first is small, so the link starts early (DDP caps that one at 1 MiB) — and hold at most
    /// `bucketElements` in between. Each bucket ends at the largest of `frontiers` (the offsets
    /// backward reports, `Model.gradientFrontiers`) within that size, so it is final the moment
    /// backward reports its lower end; where no frontier fits it is cut at the size. Depends only
    /// on its arguments, so every rank cuts the same buckets. `bucketElements` 0 makes one bucket.
    public static func buckets(count: Int, bucketElements: Int, frontiers: [Int] = []) -> [Range<Int>] {
        guard count > 0 else { return [] }
        guard bucketElements > 0 else { return [0..<count] }
        let cuts = Set(frontiers).filter { $0 > 0 && $0 < count }.sorted()
        let edge = Swift.min(bucketElements, edgeBucketElements)
        var result: [Range<Int>] = [], lower = 0, next = 0
        while lower < count {
            let size = Swift.min(bucketElements, Swift.max(edge, lower), Swift.max(edge, (count - lower) / 2))
            let limit = lower + size
            if limit >= count {
                result.append(lower..<count)
                break
            }
            while next < cuts.count && cuts[next] <= lower { next += 1 }
            var upper = limit
            if next < cuts.count && cuts[next] <= limit {
                var i = next
                while i + 1 < cuts.count && cuts[i + 1] <= limit { i += 1 }
                upper = cuts[i]
            }
            result.append(lower..<upper)
            lower = upper
        }
        return result.reversed()
    }

    /// Chunk c of `bucket` for rank c: equal parts, or rank c's shard intersected with the bucket.
    public static func chunks(of bucket: Range<Int>, ranks W: Int, shardStarts: [Int], shardCounts: [Int]?) -> [Range<Int>] {
        if let counts = shardCounts {
            return (0..<W).map { c in
                let lower = Swift.min(Swift.max(shardStarts[c], bucket.lowerBound), bucket.upperBound)
                let upper = Swift.max(Swift.min(shardStarts[c] + counts[c], bucket.upperBound), lower)
                return lower..<upper
            }
        }
        let n = bucket.count
        return (0..<W).map { c in (bucket.lowerBound + n * c / W)..<(bucket.lowerBound + n * (c + 1) / W) }
    }

    /// Starts a step's exchange; the gradients are about to be computed.
    public func begin() {
        precondition(!inStep, "BucketedExchange.begin: the previous step was not finished")
        inStep = true
        next = 0
        failure = nil
        busy = 0
        cpu = 0
    }

    /// `gradients[offset...]` is final: hands every bucket that lies inside it to the exchange thread.
    public func ready(from offset: Int) {
        precondition(inStep, "BucketedExchange.ready outside begin/finish")
        while next < buckets.count && buckets[next].lowerBound >= offset {
            let index = next
            next += 1
            queue.async(group: group) { [self] in
                guard failure == nil else { return }
                let (start, startCPU) = (monotonicSeconds(), threadCPUSeconds())
                do { try reduce(bucket: index) } catch { failure = error }
                busy += monotonicSeconds() - start
                cpu += threadCPUSeconds() - startCPU
            }
        }
    }

    /// Hands over the buckets not yet ready (all of them when backward reported nothing), waits
    /// until every bucket is reduced, and rethrows the exchange thread's error if there was one.
    public func finish() throws -> ExchangeTimes {
        let start = monotonicSeconds()
        ready(from: 0)
        group.wait()
        inStep = false
        let times = ExchangeTimes(exposed: monotonicSeconds() - start, busy: busy, cpu: cpu)
        if let failure { throw failure }
        return times
    }

    /// ZeRO-1's weight step through the same buckets, in binary32 (weights are never rounded):
    /// every rank's shard of `buffer` is copied into the same place on every other rank; with two
    /// levels across the hosts first (among the ranks of each local rank), then within each host.
    /// Runs on the calling thread; call it after `finish`.
    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        precondition(!inStep, "BucketedExchange.allGather during a step")
        guard let counts = shardCounts, buffer.count == gradients.count else {
            throw MPIError(call: "BucketedExchange.allGather", message: "needs the shard counts and a buffer of \(gradients.count) floats")
        }
        var hop = 0
        for bucket in buckets {
            let parts = Self.chunks(of: bucket, ranks: channel.size, shardStarts: shardStarts, shardCounts: counts)
            guard let hosts else {
                try allGather(parts, over: channel, in: buffer, bucket: nil, hop: &hop)
                continue
            }
            try allGather(hosts.crossWorldRanks.map { parts[$0] }, over: hosts.cross, in: buffer, bucket: nil, hop: &hop)
            for ranksOfHost in hosts.worldRanks {
                try allGather(ranksOfHost.map { parts[$0] }, over: hosts.local, in: buffer, bucket: nil, hop: &hop)
            }
        }
    }

    /// The ring reduce-scatter (and, without shards, all-gather) of one bucket; exchange thread.
    private func reduce(bucket index: Int) throws {
        let bucket = buckets[index]
        var hop = 0
        if let hosts, shardCounts == nil {
            // Within the host in binary32 (shared memory), across hosts among the ranks of this
            // local rank (one per host, on 1/L of the bucket each), within the host again.
            let local = Self.chunks(of: bucket, ranks: hosts.local.size, shardStarts: [], shardCounts: nil)
            try reduceScatter(local, over: hosts.local, wire: .none, bucket: index, hop: &hop)
            try allReduce(local[hosts.local.rank], over: hosts.cross, base: bucket.lowerBound, bucket: index, hop: &hop)
            try allGather(local, over: hosts.local, in: gradients, bucket: index, hop: &hop)
            return
        }
        guard shardCounts != nil else {
            try allReduce(bucket, over: channel, base: bucket.lowerBound, bucket: index, hop: &hop)
            return
        }
        let r = channel.rank
        let parts = Self.chunks(of: bucket, ranks: channel.size, shardStarts: shardStarts, shardCounts: shardCounts)
        if let hosts {
            // Within the host in binary32: for each host's ranks in turn, a reduce-scatter that
            // leaves the part of (that host, local rank l) summed over this host on local rank l.
            // Then across hosts among the ranks of this local rank: each ends with its own part
            // summed over every host.
            for ranksOfHost in hosts.worldRanks {
                try reduceScatter(ranksOfHost.map { parts[$0] }, over: hosts.local, wire: .none, bucket: index, hop: &hop)
            }
            try reduceScatter(hosts.crossWorldRanks.map { parts[$0] }, over: hosts.cross, wire: compression, bucket: index, hop: &hop)
        } else {
            try reduceScatter(parts, over: channel, wire: compression, bucket: index, hop: &hop)
        }
        let mine = parts[r]
        let target = UnsafeMutableBufferPointer(rebasing: shard[(mine.lowerBound - shardStarts[r])..<(mine.upperBound - shardStarts[r])])
        switch compression {
        case .none: _ = target.update(fromContentsOf: gradients[mine])
        case .bf16:
            // The rounded complete sum, as every rank would take it.
            let rounded = wire(mine, base: bucket.lowerBound)
            BFloat16.compress(UnsafeBufferPointer(rebasing: gradients[mine]), into: rounded)
            BFloat16.decompress(UnsafeBufferPointer(rounded), into: target)
        }
    }

    /// The ring all-reduce of `range` over `ring`, in equal chunks, on the wire of `compression`.
    /// With `.bf16` the owner of each chunk rounds its complete sum and every rank, the owner too,
    /// takes that rounded value. `base`: the offset `bucketWire` starts at.
    private func allReduce(_ range: Range<Int>, over ring: any ExchangeChannel, base: Int, bucket: Int, hop: inout Int) throws {
        let parts = Self.chunks(of: range, ranks: ring.size, shardStarts: [], shardCounts: nil)
        try reduceScatter(parts, over: ring, wire: compression, bucket: bucket, hop: &hop)
        switch compression {
        case .none:
            try allGather(parts, over: ring, in: gradients, bucket: bucket, hop: &hop)
        case .bf16:
            let (W, r) = (ring.size, ring.rank)
            let mine = parts[r]
            BFloat16.compress(UnsafeBufferPointer(rebasing: gradients[mine]), into: wire(mine, base: base))
            for s in 0..<(W - 1) {
                try beforeHop?(bucket, hop)
                hop += 1
                let out = parts[(r - s + W) % W], into = parts[(r - s - 1 + W) % W]
                try ring.exchange(send: UnsafeBufferPointer(wire(out, base: base)), to: (r + 1) % W,
                                  receive: wire(into, base: base), from: (r + W - 1) % W)
            }
            BFloat16.decompress(UnsafeBufferPointer(wire(range, base: base)), into: UnsafeMutableBufferPointer(rebasing: gradients[range]))
        }
    }

    /// Ring reduce-scatter of `parts` (one per rank of `ring`): in W − 1 hops each rank sends its
    /// partial sum of one part to rank r + 1 and adds the partial it receives from r − 1 to its
    /// own values of the next, so part c is summed in the order of ranks c + 1, c + 2, …, c
    /// (mod W) and ends complete, in binary32, on rank c. `wire` .bf16: the partials travel
    /// rounded to bfloat16 and are added in binary32.
    private func reduceScatter(_ parts: [Range<Int>], over ring: any ExchangeChannel, wire: GradientCompression, bucket: Int, hop: inout Int) throws {
        let (W, r) = (ring.size, ring.rank)
        let right = (r + 1) % W, left = (r + W - 1) % W
        for s in 0..<(W - 1) {
            try beforeHop?(bucket, hop)
            hop += 1
            let out = parts[(r - s - 1 + 2 * W) % W], into = parts[(r - s - 2 + 2 * W) % W]
            let sum = UnsafeMutableBufferPointer(rebasing: gradients[into])
            switch wire {
            case .none:
                let received = UnsafeMutableBufferPointer(rebasing: receiveFloats[0..<into.count])
                try ring.exchange(send: UnsafeBufferPointer(rebasing: gradients[out]), to: right, receive: received, from: left)
                add(UnsafeBufferPointer(received), into: sum)
            case .bf16:
                let sent = UnsafeMutableBufferPointer(rebasing: sendWire[0..<out.count])
                let received = UnsafeMutableBufferPointer(rebasing: receiveWire[0..<into.count])
                BFloat16.compress(UnsafeBufferPointer(rebasing: gradients[out]), into: sent)
                try ring.exchange(send: UnsafeBufferPointer(sent), to: right, receive: received, from: left)
                BFloat16.accumulate(UnsafeBufferPointer(received), into: sum)
            }
        }
    }

    /// Ring all-gather in binary32: W − 1 hops pass every rank's part of `buffer` to the others.
    /// `bucket` nil: no fault hook (the weights' all-gather).
    private func allGather(_ parts: [Range<Int>], over ring: any ExchangeChannel, in buffer: UnsafeMutableBufferPointer<Float>, bucket: Int?, hop: inout Int) throws {
        let (W, r) = (ring.size, ring.rank)
        for s in 0..<(W - 1) {
            if let bucket { try beforeHop?(bucket, hop) }
            hop += 1
            let out = parts[(r - s + W) % W], into = parts[(r - s - 1 + W) % W]
            try ring.exchange(
                send: UnsafeBufferPointer(rebasing: buffer[out]), to: (r + 1) % W,
                receive: UnsafeMutableBufferPointer(rebasing: buffer[into]), from: (r + W - 1) % W)
        }
    }

    /// The bfloat16 wire of `range` of the current bucket, which starts at `base`.
    private func wire(_ range: Range<Int>, base: Int) -> UnsafeMutableBufferPointer<UInt16> {
        UnsafeMutableBufferPointer(rebasing: bucketWire[(range.lowerBound - base)..<(range.upperBound - base)])
    }
}

/// `sum[i] = addend[i] + sum[i]`.
private func add(_ addend: UnsafeBufferPointer<Float>, into sum: UnsafeMutableBufferPointer<Float>) {
    guard let x = addend.baseAddress, let y = sum.baseAddress else { return }
    for i in 0..<sum.count { y[i] = x[i] + y[i] }
}
