/// Where a `BatchSampler` is: enough, with the seed and W·B, to continue with exactly the batches
/// an uninterrupted run would have seen. Global: the same on every rank, and unchanged by a
/// change of world size that keeps W·B.
public struct SamplerState: Codable, Sendable, Equatable {
    /// Completed passes over the data (shuffle: also which permutation is in use).
    public var epoch: Int
    /// The start of the next micro-batch: sequential, a token offset; shuffle, an index into
    /// this epoch's permutation of windows.
    public var position: Int

    public init(epoch: Int = 0, position: Int = 0) {
        self.epoch = epoch
        self.position = position
    }
}
