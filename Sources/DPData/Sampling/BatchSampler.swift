import DPBase

/// Cuts a token sequence into micro-batches of W·B rows of T+1 tokens and hands rank r its B rows,
/// exactly as DESIGN.md §4 says. Deterministic given (kind, tokens, B, T, W, seed, state).
///
/// - sequential: micro-batch g starts at token g·W·B·T (wrapping to 0, and counting an epoch,
///   when the next W·B·T + 1 tokens do not fit); rank r reads from start + r·B·T, and row b is
///   tokens [row start + b·T, row start + b·T + T] with the targets shifted by one.
/// - shuffle: windows of T+1 tokens at offsets k·T; each epoch a permutation of all windows seeded
///   by (seed, epoch) and the same on every rank; a micro-batch takes the next W·B windows of it
///   and rank r the r-th block of B. When fewer than W·B windows remain, the next epoch starts.
public struct BatchSampler: Sendable {
    public let kind: SamplerKind
    public let tokens: TokenSequence
    /// Rows per rank (B), context (T), this rank (r) and the world size (W).
    public let batch: Int, context: Int, rank: Int, worldSize: Int
    public let seed: UInt64
    /// Where the next micro-batch starts. Settable to resume; an out-of-range position moves to
    /// the next epoch when `next` is called.
    public var state: SamplerState
    /// shuffle: the windows `tokens` holds.
    public let windowCount: Int
    /// shuffle: the permutation of windows for `permutationEpoch` (regenerated on epoch change).
    private var permutation: [Int32] = []
    private var permutationEpoch = -1

    /// Throws when the tokens are too few for one global micro-batch of W·B rows.
    public init(kind: SamplerKind, tokens: TokenSequence, batch: Int, context: Int, rank: Int, worldSize: Int, seed: UInt64) throws {
        guard batch >= 1, context >= 1, worldSize >= 1, (0..<worldSize).contains(rank) else {
            throw DataError.invalidArgument("A sampler needs batch >= 1, context >= 1 and 0 <= rank < world size; got batch \(batch), context \(context), rank \(rank), world size \(worldSize).")
        }
        let rows = worldSize * batch
        self.kind = kind
        self.tokens = tokens
        self.batch = batch
        self.context = context
        self.rank = rank
        self.worldSize = worldSize
        self.seed = seed
        self.state = SamplerState()
        self.windowCount = tokens.count > context ? (tokens.count - 1) / context : 0
        switch kind {
        case .sequential:
            guard tokens.count >= rows * context + 1 else {
                throw DataError.dataTooShort("The training split has \(tokens.count) tokens, fewer than the \(rows * context + 1) that one micro-batch of \(worldSize) × \(batch) rows of context \(context) needs; use more text or a smaller batch or context.")
            }
        case .shuffle:
            guard windowCount >= rows else {
                throw DataError.dataTooShort("The training split has \(windowCount) windows of \(context + 1) tokens, fewer than the \(rows) rows (\(worldSize) × \(batch)) of one micro-batch; use more text or a smaller batch or context.")
            }
        }
    }

    /// Fills this rank's B·T inputs and B·T targets (row-major) of the next micro-batch and advances.
    public mutating func next(tokens inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        let (B, T) = (batch, context)
        let rows = worldSize * B
        precondition(state.epoch >= 0 && state.position >= 0, "sampler state \(state) is negative")
        moveToNextEpochIfDone()  // a state set from outside may point past the end
        switch kind {
        case .sequential:
            let start = state.position + rank * B * T
            for b in 0..<B { fillRow(b, from: start + b * T, inputs, targets) }
            state.position += rows * T
        case .shuffle:
            if permutationEpoch != state.epoch {
                permutation = Self.permutation(windowCount, seed: seed, epoch: state.epoch)
                permutationEpoch = state.epoch
            }
            let first = state.position + rank * B
            for b in 0..<B { fillRow(b, from: Int(permutation[first + b]) * T, inputs, targets) }
            state.position += rows
        }
        moveToNextEpochIfDone()
    }

    /// Starts the next epoch when the next micro-batch does not fit in this one, so that a saved
    /// state after the last micro-batch of an epoch reads (epoch + 1, 0).
    private mutating func moveToNextEpochIfDone() {
        let rows = worldSize * batch
        let fits = switch kind {
        case .sequential: state.position + rows * context + 1 <= tokens.count
        case .shuffle: state.position + rows <= windowCount
        }
        if !fits { state = SamplerState(epoch: state.epoch + 1, position: 0) }
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
