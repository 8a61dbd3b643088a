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
    public init(exposed: Double = 0, busy: Double = 0) {
        self.exposed = exposed
        self.busy = busy
    }
}

/// The gradient all-reduce in buckets, on a thread of its own, overlapped with backward.
///
/// The flat gradient buffer of N floats is cut into contiguous buckets of at most
/// `bucketElements`, from the end of the buffer towards offset 0 (the order in which backward
/// finishes them: last block first, the embeddings at offset 0 last). As backward reports that
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

    /// A test hook (fault points): called on the exchange thread before hop `hop` of bucket
    /// `bucket`; what it throws fails the step on this rank as an MPI error would.
    public var beforeHop: (@Sendable (_ bucket: Int, _ hop: Int) throws -> Void)?

    /// - Parameters:
    ///   - channel: from `Communicator.makeExchangeChannel()`.
    ///   - gradients: the flat buffer; reduced in place unless `shardCounts` is given.
    ///   - bucketElements: the bucket size; 0 (or ≥ the buffer) makes one bucket of everything.
    ///   - shardCounts: ZeRO-1's partition (one count per rank, adding up to the buffer's count);
    ///     the reduced values of this rank's part go to `shard` (which holds `shardCounts[rank]`).
    public init(
        channel: any ExchangeChannel, gradients: UnsafeMutableBufferPointer<Float>, bucketElements: Int,
        compression: GradientCompression, shardCounts: [Int]? = nil, shard: UnsafeMutableBufferPointer<Float>? = nil
    ) throws {
        let W = channel.size, N = gradients.count
        if let counts = shardCounts {
            guard counts.count == W, counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == N,
                  let shard, shard.count == counts[channel.rank] else {
                throw MPIError(call: "BucketedExchange", message: "shard counts \(counts) do not partition \(N) gradients over \(W) ranks with this rank's shard")
            }
        }
        self.channel = channel
        self.gradients = gradients
        self.shard = shard ?? UnsafeMutableBufferPointer(start: nil, count: 0)
        self.compression = compression
        self.shardCounts = shardCounts
        var starts: [Int] = [], offset = 0
        for n in shardCounts ?? [] { starts.append(offset); offset += n }
        shardStarts = starts
        buckets = Self.buckets(count: N, bucketElements: bucketElements)

        let largestBucket = buckets.map(\.count).max() ?? 0
        var largestChunk = 0
        for bucket in buckets { largestChunk = Swift.max(largestChunk, Self.chunks(of: bucket, ranks: W, shardStarts: starts, shardCounts: shardCounts).map(\.count).max() ?? 0) }
        receiveFloats = .allocate(capacity: compression == .none ? largestChunk : 0)
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

    /// The buckets of a buffer of `count` floats, highest offsets first: full buckets of
    /// `bucketElements` cut from the end, the remainder (holding offset 0) last.
    public static func buckets(count: Int, bucketElements: Int) -> [Range<Int>] {
        guard count > 0 else { return [] }
        guard bucketElements > 0, bucketElements < count else { return [0..<count] }
        var result: [Range<Int>] = [], upper = count
        while upper > 0 {
            let lower = Swift.max(0, upper - bucketElements)
            result.append(lower..<upper)
            upper = lower
        }
        return result
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
    }

    /// `gradients[offset...]` is final: hands every bucket that lies inside it to the exchange thread.
    public func ready(from offset: Int) {
        precondition(inStep, "BucketedExchange.ready outside begin/finish")
        while next < buckets.count && buckets[next].lowerBound >= offset {
            let index = next
            next += 1
            queue.async(group: group) { [self] in
                guard failure == nil else { return }
                let start = monotonicSeconds()
                do { try reduce(bucket: index) } catch { failure = error }
                busy += monotonicSeconds() - start
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
        let times = ExchangeTimes(exposed: monotonicSeconds() - start, busy: busy)
        if let failure { throw failure }
        return times
    }

    /// ZeRO-1's weight step through the same buckets, in binary32 (weights are never rounded):
    /// every rank's shard of `buffer` is copied into the same place on every other rank. Runs on
    /// the calling thread; call it after `finish`.
    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        precondition(!inStep, "BucketedExchange.allGather during a step")
        guard let counts = shardCounts, buffer.count == gradients.count else {
            throw MPIError(call: "BucketedExchange.allGather", message: "needs the shard counts and a buffer of \(gradients.count) floats")
        }
        let (W, r) = (channel.size, channel.rank)
        for bucket in buckets {
            let parts = Self.chunks(of: bucket, ranks: W, shardStarts: shardStarts, shardCounts: counts)
            for s in 0..<(W - 1) {
                let out = parts[(r - s + W) % W], into = parts[(r - s - 1 + W) % W]
                try channel.exchange(
                    send: UnsafeBufferPointer(rebasing: buffer[out]), to: (r + 1) % W,
                    receive: UnsafeMutableBufferPointer(rebasing: buffer[into]), from: (r + W - 1) % W)
            }
        }
    }

    /// The ring reduce-scatter (and, without shards, all-gather) of one bucket; exchange thread.
    private func reduce(bucket index: Int) throws {
        let bucket = buckets[index]
        let (W, r) = (channel.size, channel.rank)
        let right = (r + 1) % W, left = (r + W - 1) % W
        let parts = Self.chunks(of: bucket, ranks: W, shardStarts: shardStarts, shardCounts: shardCounts)
        var hop = 0
        for s in 0..<(W - 1) {
            try beforeHop?(index, hop)
            hop += 1
            let out = parts[(r - s - 1 + 2 * W) % W], into = parts[(r - s - 2 + 2 * W) % W]
            let sum = UnsafeMutableBufferPointer(rebasing: gradients[into])
            switch compression {
            case .none:
                let received = UnsafeMutableBufferPointer(rebasing: receiveFloats[0..<into.count])
                try channel.exchange(send: UnsafeBufferPointer(rebasing: gradients[out]), to: right, receive: received, from: left)
                add(UnsafeBufferPointer(received), into: sum)
            case .bf16:
                let sent = UnsafeMutableBufferPointer(rebasing: sendWire[0..<out.count])
                let received = UnsafeMutableBufferPointer(rebasing: receiveWire[0..<into.count])
                BFloat16.compress(UnsafeBufferPointer(rebasing: gradients[out]), into: sent)
                try channel.exchange(send: UnsafeBufferPointer(sent), to: right, receive: received, from: left)
                BFloat16.accumulate(UnsafeBufferPointer(received), into: sum)
            }
        }
        let mine = parts[r]
        let lower = bucket.lowerBound
        func wire(_ range: Range<Int>) -> UnsafeMutableBufferPointer<UInt16> {
            UnsafeMutableBufferPointer(rebasing: bucketWire[(range.lowerBound - lower)..<(range.upperBound - lower)])
        }
        // The rounded complete sum is the result on every rank, its owner's too.
        if compression == .bf16 { BFloat16.compress(UnsafeBufferPointer(rebasing: gradients[mine]), into: wire(mine)) }

        if shardCounts != nil {
            let target = UnsafeMutableBufferPointer(rebasing: shard[(mine.lowerBound - shardStarts[r])..<(mine.upperBound - shardStarts[r])])
            switch compression {
            case .none: _ = target.update(fromContentsOf: gradients[mine])
            case .bf16: BFloat16.decompress(UnsafeBufferPointer(wire(mine)), into: target)
            }
            return
        }
        for s in 0..<(W - 1) {
            try beforeHop?(index, hop)
            hop += 1
            let out = parts[(r - s + W) % W], into = parts[(r - s - 1 + W) % W]
            switch compression {
            case .none:
                try channel.exchange(
                    send: UnsafeBufferPointer(rebasing: gradients[out]), to: right,
                    receive: UnsafeMutableBufferPointer(rebasing: gradients[into]), from: left)
            case .bf16:
                try channel.exchange(send: UnsafeBufferPointer(wire(out)), to: right, receive: wire(into), from: left)
            }
        }
        if compression == .bf16 {
            BFloat16.decompress(UnsafeBufferPointer(wire(bucket)), into: UnsafeMutableBufferPointer(rebasing: gradients[bucket]))
        }
    }
}

/// `sum[i] = addend[i] + sum[i]`.
private func add(_ addend: UnsafeBufferPointer<Float>, into sum: UnsafeMutableBufferPointer<Float>) {
    guard let x = addend.baseAddress, let y = sum.baseAddress else { return }
    for i in 0..<sum.count { y[i] = x[i] + y[i] }
}
