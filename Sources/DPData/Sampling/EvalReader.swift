/// Sequential windows of T+1 tokens over the validation split, sharded across ranks: the
/// windows at offsets k·S of each shard (S the stride, default T: non-overlapping), in order,
/// without wrapping. With one shard, global batch i is windows i·W·B ..< (i+1)·W·B (window k
/// starts at token k·S), and rank r reads the r-th block of B of them; with several, each shard
/// gives its whole batches in turn and no window spans two shards.
public struct EvalReader: Sendable {
    public let tokens: TokenSequence
    public let batch: Int, context: Int, rank: Int, worldSize: Int
    /// S: the distance between the starts of consecutive windows.
    public let stride: Int
    /// batchStarts[s]: the first global batch of shard s (shards + 1 entries).
    private let batchStarts: [Int]
    private let windows: ShardWindows

    /// - Parameter stride: S, the window stride; nil: the context T (non-overlapping windows).
    public init(tokens: TokenSequence, batch: Int, context: Int, stride: Int? = nil, rank: Int, worldSize: Int) {
        let stride = stride ?? context
        precondition(batch >= 1 && context >= 1 && stride >= 1 && worldSize >= 1 && (0..<worldSize).contains(rank),
                     "EvalReader needs batch >= 1, context >= 1, stride >= 1 and 0 <= rank < world size")
        self.tokens = tokens
        self.batch = batch
        self.context = context
        self.stride = stride
        self.rank = rank
        self.worldSize = worldSize
        self.windows = ShardWindows(tokens, context: context, stride: stride)
        var starts = [0]
        for s in 0..<windows.shardCount {
            starts.append(starts.last! + (windows.windowStarts[s + 1] - windows.windowStarts[s]) / (worldSize * batch))
        }
        self.batchStarts = starts
    }

    /// Global batches available (each W·B rows); 0 when the split is shorter than one.
    public var batchCount: Int { batchStarts.last! }

    /// Fills this rank's B·T inputs and targets of global batch `index` (0 <= index < batchCount).
    public func batch(_ index: Int, tokens inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        precondition(index >= 0 && index < batchCount, "eval batch \(index) outside 0..<\(batchCount)")
        let (B, T, S) = (batch, context, stride)
        let s = ShardWindows.last(in: batchStarts, atMost: index)
        let start = windows.tokenStarts[s] + ((index - batchStarts[s]) * worldSize + rank) * B * S
        for b in 0..<B {
            tokens.copy(from: start + b * S, count: T, to: inputs + b * T)
            tokens.copy(from: start + b * S + 1, count: T, to: targets + b * T)
        }
    }
}
