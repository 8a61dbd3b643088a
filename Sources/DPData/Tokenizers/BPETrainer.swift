/// The state of BPE training: every unique chunk of the text as its current tokens, with how
/// often it occurs, and the count of every adjacent pair over all chunks.
///
/// A merge only touches the chunks that hold its pair (`chunksWithPair`), and the best pair is
/// found with a max-heap whose stale entries are skipped when popped. Nothing depends on the
/// iteration order of a dictionary, so training is deterministic across processes.
struct BPETrainer {
    private var chunks: [[Int32]] = []
    private var chunkCounts: [Int] = []
    private var pairCounts: [UInt64: Int] = [:]
    /// Pair -> the chunks that held it when it was counted (may repeat, may be stale).
    private var chunksWithPair: [UInt64: [Int32]] = [:]
    private var heap = BinaryHeap<PairCount>()

    /// Pre-splits `text` in pieces of about `pieceBytes` cut where `TextCut` allows (the chunks
    /// are those of the whole text), so that the pre-split's per-byte arrays (about 10 bytes per
    /// input byte) are those of one piece, not of the whole sample.
    init(text: String, pieceBytes: Int = 1 << 20) {
        let bytes = Array(text.utf8)
        var index: [ArraySlice<UInt8>: Int] = [:]
        var start = 0
        while start < bytes.count {
            var end = min(bytes.count, start + pieceBytes)
            end = bytes.withUnsafeBufferPointer { buffer in
                var p = end
                while p < buffer.count && !TextCut.isSafe(buffer, at: p, kind: .bpe) { p += 1 }
                return p
            }
            let piece = Array(bytes[start..<end])
            for range in GPT2PreSplit.chunks(piece) {
                let chunk = piece[range]
                if let i = index[chunk] {
                    chunkCounts[i] += 1
                } else {
                    index[ArraySlice(Array(chunk))] = chunks.count  // a copy: the key must not keep the piece alive
                    chunks.append(chunk.map { Int32($0) })
                    chunkCounts.append(1)
                }
            }
            start = end
        }
        for (c, tokens) in chunks.enumerated() {
            for i in 0..<max(tokens.count - 1, 0) {
                let pair = BPETokenizer.key(tokens[i], tokens[i + 1])
                pairCounts[pair, default: 0] += chunkCounts[c]
                chunksWithPair[pair, default: []].append(Int32(c))
            }
        }
        for (pair, count) in pairCounts { heap.push(PairCount(count: count, pair: pair)) }
    }

    /// Up to `count` merges, each the most frequent pair at its time (ties: the smaller pair).
    mutating func learn(count: Int) -> [(Int32, Int32)] {
        var merges: [(Int32, Int32)] = []
        var seen = [Int](repeating: -1, count: chunks.count)  // last merge that visited a chunk
        while merges.count < count, let (pair, n) = popBest(), n >= 2 {
            let a = Int32(truncatingIfNeeded: pair >> 32), b = Int32(truncatingIfNeeded: pair & 0xFFFF_FFFF)
            let made = Int32(256 + merges.count)
            var deltas: [UInt64: Int] = [:]
            for c in chunksWithPair.removeValue(forKey: pair) ?? [] where seen[Int(c)] != merges.count {
                seen[Int(c)] = merges.count
                mergeChunk(Int(c), a, b, into: made, deltas: &deltas)
            }
            for (p, d) in deltas where d != 0 {
                let updated = pairCounts[p, default: 0] + d
                pairCounts[p] = updated == 0 ? nil : updated
                if updated > 0 { heap.push(PairCount(count: updated, pair: p)) }
            }
            merges.append((a, b))
        }
        return merges
    }

    /// Replaces every (a, b) in chunk c by `made`, recording the change of pair counts.
    private mutating func mergeChunk(_ c: Int, _ a: Int32, _ b: Int32, into made: Int32, deltas: inout [UInt64: Int]) {
        let old = chunks[c]
        let merged = BPETokenizer.merge(old, a, b, into: made)
        guard merged.count != old.count else { return }  // stale entry: the pair is gone
        let n = chunkCounts[c]
        for i in 0..<(old.count - 1) { deltas[BPETokenizer.key(old[i], old[i + 1]), default: 0] -= n }
        for i in 0..<max(merged.count - 1, 0) {
            let p = BPETokenizer.key(merged[i], merged[i + 1])
            deltas[p, default: 0] += n
            if merged[i] == made || merged[i + 1] == made { chunksWithPair[p, default: []].append(Int32(c)) }
        }
        chunks[c] = merged
    }

    /// The most frequent pair and its count, skipping heap entries that no longer hold.
    private mutating func popBest() -> (UInt64, Int)? {
        while let top = heap.pop() {
            if pairCounts[top.pair] == top.count { return (top.pair, top.count) }
        }
        return nil
    }
}

/// A pair and its count when pushed; the heap gives the larger count first, then the smaller pair.
struct PairCount: HeapOrdered {
    let count: Int, pair: UInt64

    @inline(__always)
    static func before(_ x: Self, _ y: Self) -> Bool { x.count != y.count ? x.count > y.count : x.pair < y.pair }
}
