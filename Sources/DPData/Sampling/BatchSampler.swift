import DPBase

/// Cuts a token sequence into micro-batches of W·B rows of T+1 tokens and hands rank r its B rows,
/// exactly as DESIGN.md §4 says. Deterministic given (kind, tokens and their shards, B, T, the
/// window stride S, W, seed, state). No row ever spans two shards (`TokenSequence.shards`); one
/// shard is today's single token file.
///
/// The stride S is how far apart consecutive windows start: S = T (the default) cuts the tokens
/// into non-overlapping windows; S < T lets them overlap, so that every offset modulo T is seen
/// (the seed example, S = 1: its period-4 stream at T = 2 holds four contexts, and windows at
/// offsets 2k would show only two of them).
///
/// - sequential: a cursor walks the shards in order. Micro-batch g starts at token g·W·B·S of a
///   shard; when the next (W·B − 1)·S + T + 1 tokens do not fit in the shard, the next shard that
///   holds them starts; after the last one the cursor wraps to the first (counting an epoch).
///   Rank r reads from start + r·B·S, and row b is tokens [row start + b·S, row start + b·S + T]
///   with the targets shifted by one.
/// - shuffle: windows of T+1 tokens at offsets k·S of each shard, numbered across the shards in
///   order; each epoch a permutation of all windows seeded by (seed, epoch) and the same on every
///   rank; a micro-batch takes the next W·B windows of it and rank r the r-th block of B. When
///   fewer than W·B windows remain, the next epoch starts.
public struct BatchSampler: Sendable {
    public let kind: SamplerKind
    public let tokens: TokenSequence
    /// Rows per rank (B), context (T), this rank (r) and the world size (W).
    public let batch: Int, context: Int, rank: Int, worldSize: Int
    /// S: the distance between the starts of consecutive windows (and rows of a sequential batch).
    public let stride: Int
    public let seed: UInt64
    /// Where the next micro-batch starts. Settable to resume; an out-of-range position moves to
    /// the next epoch when `next` is called.
    public var state: SamplerState
    /// shuffle: the windows `tokens` holds, over all shards.
    public var windowCount: Int { windows.count }
    /// The shards' token and window ranges.
    private let windows: ShardWindows
    /// shuffle: the order of windows for `orderEpoch` (regenerated on epoch change).
    private var order: WindowOrder?

    /// Throws when the tokens are too few for one global micro-batch of W·B rows.
    ///
    /// - Parameter stride: S, the window stride; nil: the context T (non-overlapping windows).
    public init(kind: SamplerKind, tokens: TokenSequence, batch: Int, context: Int, stride: Int? = nil,
                rank: Int, worldSize: Int, seed: UInt64) throws {
        let stride = stride ?? context
        guard batch >= 1, context >= 1, stride >= 1, worldSize >= 1, (0..<worldSize).contains(rank) else {
            throw DataError.invalidArgument("A sampler needs batch >= 1, context >= 1, stride >= 1 and 0 <= rank < world size; got batch \(batch), context \(context), stride \(stride), rank \(rank), world size \(worldSize).")
        }
        let rows = worldSize * batch
        self.kind = kind
        self.tokens = tokens
        self.batch = batch
        self.context = context
        self.stride = stride
        self.rank = rank
        self.worldSize = worldSize
        self.seed = seed
        self.state = SamplerState()
        self.windows = ShardWindows(tokens, context: context, stride: stride)
        let sharded = windows.shardCount > 1
        switch kind {
        case .sequential:
            let need = Self.sequentialSpan(rows: rows, context: context, stride: stride)
            guard windows.tokenCounts.contains(where: { $0 >= need }) else {
                throw DataError.dataTooShort(sharded
                    ? "No training shard has the \(need) tokens that one micro-batch of \(worldSize) × \(batch) rows of context \(context) needs (the largest has \(windows.tokenCounts.max() ?? 0)); use a smaller batch or context, or the shuffle sampler."
                    : "The training split has \(tokens.count) tokens, fewer than the \(need) that one micro-batch of \(worldSize) × \(batch) rows of context \(context) needs; use more text or a smaller batch or context.")
            }
        case .shuffle:
            guard windows.count >= rows else {
                throw DataError.dataTooShort("The training split has \(windows.count) windows of \(context + 1) tokens\(sharded ? " in its \(windows.shardCount) shards" : ""), fewer than the \(rows) rows (\(worldSize) × \(batch)) of one micro-batch; use more text or a smaller batch or context.")
            }
        }
    }

    /// Fills this rank's B·T inputs and B·T targets (row-major) of the next micro-batch and advances.
    public mutating func next(tokens inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        let B = batch
        let rows = worldSize * B
        precondition(state.epoch >= 0 && state.position >= 0, "sampler state \(state) is negative")
        moveToNextEpochIfDone()  // a state set from outside may point past the end
        switch kind {
        case .sequential:
            let S = stride
            let start = state.position + rank * B * S
            for b in 0..<B { fillRow(b, from: start + b * S, inputs, targets) }
            state.position += rows * S
        case .shuffle:
            if order?.epoch != state.epoch {
                order = WindowOrder(count: windows.count, seed: seed, epoch: state.epoch)
            }
            let first = state.position + rank * B
            for b in 0..<B { fillRow(b, from: windows.tokenOffset(ofWindow: order![first + b]), inputs, targets) }
            state.position += rows
        }
        moveToNextEpochIfDone()
    }

    /// Moves the state to where the next micro-batch really starts: sequential, the next shard
    /// that holds it (or, past the last, the next epoch's first); shuffle, the next epoch when
    /// fewer than W·B windows remain. A saved state after the last micro-batch of an epoch thus
    /// reads (epoch + 1, start of the first shard that fits) — (epoch + 1, 0) with one shard.
    private mutating func moveToNextEpochIfDone() {
        let rows = worldSize * batch
        switch kind {
        case .sequential:
            let need = Self.sequentialSpan(rows: rows, context: context, stride: stride)
            if let start = windows.firstFit(from: state.position, need: need) {
                state.position = start
            } else {
                state = SamplerState(epoch: state.epoch + 1, position: windows.firstFit(from: 0, need: need)!)
            }
        case .shuffle:
            if state.position + rows > windows.count { state = SamplerState(epoch: state.epoch + 1, position: 0) }
        }
    }

    /// The tokens one sequential micro-batch of `rows` rows spans: (rows − 1)·S + T + 1
    /// (rows·T + 1 when S = T).
    static func sequentialSpan(rows: Int, context: Int, stride: Int) -> Int {
        (rows - 1) * stride + context + 1
    }

    /// Row b: inputs tokens[from ..< from+T], targets tokens[from+1 ... from+T].
    @inline(__always)
    private func fillRow(_ b: Int, from: Int, _ inputs: UnsafeMutablePointer<Int32>, _ targets: UnsafeMutablePointer<Int32>) {
        tokens.copy(from: from, count: context, to: inputs + b * context)
        tokens.copy(from: from + 1, count: context, to: targets + b * context)
    }

    /// The windows 0..<n in the order of epoch `epoch`: Fisher–Yates driven by SplitMix64 seeded
    /// from (seed, epoch). The same in every process on every platform.
    public static func permutation(_ n: Int, seed: UInt64, epoch: Int) -> [Int32] {
        var generator = SplitMix64(seed: SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(bitPattern: Int64(epoch)) &+ 0x5EED)))
        var order = (0..<n).map { Int32($0) }
        var i = n - 1
        while i > 0 {
            order.swapAt(i, generator.below(i + 1))
            i -= 1
        }
        return order
    }
}

/// Where the shards of a sequence begin and how many windows of T+1 tokens (at offsets k·S of
/// its shard, S the stride) each holds: (n − 1 − T)/S + 1 of a shard of n > T tokens, which is
/// (n − 1)/T when S = T.
struct ShardWindows: Sendable {
    /// Token counts of the shards, and tokenStarts[s] the first token of shard s (s + 1 entries).
    let tokenCounts: [Int], tokenStarts: [Int]
    /// windowStarts[s] the first window of shard s, over all shards (shards + 1 entries).
    let windowStarts: [Int]
    let context: Int, stride: Int

    init(_ tokens: TokenSequence, context T: Int, stride S: Int) {
        tokenCounts = tokens.shards.map(\.count)
        var (tokenStarts, windowStarts) = ([0], [0])
        for n in tokenCounts {
            tokenStarts.append(tokenStarts.last! + n)
            windowStarts.append(windowStarts.last! + (n > T ? (n - 1 - T) / S + 1 : 0))
        }
        (self.tokenStarts, self.windowStarts, self.context, self.stride) = (tokenStarts, windowStarts, T, S)
    }

    var shardCount: Int { tokenCounts.count }
    /// Windows over all shards.
    var count: Int { windowStarts.last! }

    /// The first token of window `w` (0 <= w < count).
    func tokenOffset(ofWindow w: Int) -> Int {
        let s = Self.last(in: windowStarts, atMost: w)
        return tokenStarts[s] + (w - windowStarts[s]) * stride
    }

    /// The first position at or after `p` from which `need` tokens lie in one shard: `p` itself
    /// when they fit in its shard, else the start of the next shard that has `need` tokens;
    /// nil when none after `p` has.
    func firstFit(from p: Int, need: Int) -> Int? {
        guard p < tokenStarts.last! else { return nil }
        var s = Self.last(in: tokenStarts, atMost: p)
        if p + need <= tokenStarts[s + 1] { return p }
        s += 1
        while s < shardCount {
            if tokenCounts[s] >= need { return tokenStarts[s] }
            s += 1
        }
        return nil
    }

    /// The last s with starts[s] <= x among the shards (starts has one entry more): the shard
    /// whose range holds x, skipping empty ones.
    static func last(in starts: [Int], atMost x: Int) -> Int {
        var (lo, hi) = (0, starts.count - 2)
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= x { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }
}

/// The order of `count` windows in one epoch: a permutation of 0..<count seeded by (seed, epoch).
///
/// Up to `materializedLimit` windows it is `BatchSampler.permutation` — Fisher–Yates, an array
/// of 4 bytes per window, exactly uniform over all count! orders. Above, an array of every
/// window would grow with the data (a 9 B-token set at T = 64 holds 140 M windows, 560 MB per
/// rank), so the order is a seeded bijection computed per index in O(1) memory: a six-round
/// balanced Feistel network on the smallest 2^(2h) >= count, keyed from (seed, epoch), with
/// cycle-walking (apply it again until the result is below count). Why it stays uniform: a
/// Feistel network is a bijection of its domain whatever its round functions, and
/// cycle-walking restricts a bijection of [0, 2^(2h)) to one of [0, count), so every window is
/// drawn exactly once per epoch, as with Fisher–Yates; with pseudo-random round functions
/// (SplitMix64's finalizer), four or more rounds give a pseudo-random permutation (Luby–Rackoff)
/// and cycle-walking keeps it one on the smaller domain (Black–Rogaway), so no statistic a
/// training run could compute tells its order from a uniformly drawn one. Windows of all shards
/// are mixed, not shard by shard. Expected walk: fewer than 4 steps (2^(2h) < 4·count).
struct WindowOrder: Sendable {
    static let materializedLimit = 1 << 21

    let epoch: Int
    private let count: Int
    private let table: [Int32]
    private let halfBits: Int
    private let keys: [UInt64]

    /// `materializedLimit` is a parameter for tests of the bijection on small counts.
    init(count: Int, seed: UInt64, epoch: Int, materializedLimit: Int = WindowOrder.materializedLimit) {
        self.epoch = epoch
        self.count = count
        if count <= materializedLimit {
            table = BatchSampler.permutation(count, seed: seed, epoch: epoch)
            (halfBits, keys) = (0, [])
        } else {
            table = []
            var bits = 1
            while (1 << bits) < count { bits += 1 }
            halfBits = (bits + 1) / 2
            let base = SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(bitPattern: Int64(epoch)) &+ 0xFE15_7E1))
            keys = (0..<6).map { SplitMix64.mix(base &+ UInt64($0) &* 0x9E37_79B9_7F4A_7C15) }
        }
    }

    /// The window at place i of this epoch (0 <= i < count).
    subscript(i: Int) -> Int {
        precondition(i >= 0 && i < count, "window place \(i) outside 0..<\(count)")
        if !table.isEmpty { return Int(table[i]) }
        var x = UInt64(i)
        repeat { x = feistel(x) } while x >= UInt64(count)
        return Int(x)
    }

    private func feistel(_ x: UInt64) -> UInt64 {
        let mask = (UInt64(1) << UInt64(halfBits)) - 1
        var (left, right) = (x >> UInt64(halfBits), x & mask)
        for key in keys {
            (left, right) = (right, left ^ (SplitMix64.mix(right ^ key) & mask))
        }
        return (left << UInt64(halfBits)) | right
    }
}
