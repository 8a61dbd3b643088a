import DPBase
import Foundation

/// Picks the next token from logits: the argmax at temperature 0 (greedy), otherwise a draw from
/// softmax(logits / temperature) restricted to the `topK` most likely tokens.
///
/// Deterministic: the draws come from a SplitMix64 stream seeded by `seed`, and the softmax is
/// computed in Double, so a seed and the same logits give the same tokens.
public struct TokenSampler {
    /// 0: greedy. Otherwise the softmax temperature (> 0).
    public let temperature: Float
    /// Sample among the K most likely tokens only; nil: among all.
    public let topK: Int?
    private var rng: SplitMix64
    private var order: [Int32] = []
    private var weights: [Double] = []

    /// - Precondition: temperature finite and ≥ 0, topK ≥ 1 when given.
    public init(temperature: Float, topK: Int? = nil, seed: UInt64) {
        precondition(temperature.isFinite && temperature >= 0, "TokenSampler: temperature must be finite and ≥ 0, not \(temperature)")
        precondition(topK.map { $0 >= 1 } ?? true, "TokenSampler: topK must be at least 1, not \(topK!)")
        self.temperature = temperature
        self.topK = topK
        rng = SplitMix64(seed: seed)
    }

    /// The next token given logits (V). Ties in the argmax (and in the top-k cut) go to the lower
    /// token id. O(V), or O(V log V) with a top-k smaller than V.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        let V = logits.count
        precondition(V > 0, "TokenSampler: no logits to sample from")
        if temperature == 0 { return Self.argmax(logits) }
        order.removeAll(keepingCapacity: true)
        if let topK, topK < V {
            let ranked = (0..<Int32(V)).sorted { (a: Int32, b: Int32) -> Bool in
                let (la, lb) = (logits[Int(a)], logits[Int(b)])
                return la != lb ? la > lb : a < b
            }
            order.append(contentsOf: ranked.prefix(topK))
        } else {
            order.append(contentsOf: 0..<Int32(V))
        }
        var maxLogit = -Double.infinity
        for t in order { maxLogit = max(maxLogit, Double(logits[Int(t)])) }
        weights.removeAll(keepingCapacity: true)
        var total = 0.0
        for t in order {
            let w = exp((Double(logits[Int(t)]) - maxLogit) / Double(temperature))
            weights.append(w)
            total += w
        }
        let u = rng.nextUnit() * total
        var cumulative = 0.0
        for (index, w) in weights.enumerated() {
            cumulative += w
            if u < cumulative { return order[index] }
        }
        return order[order.count - 1]   // u rounded onto the total
    }

    /// The index of the largest logit, the first one on ties.
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<max(logits.count, 1) where logits[i] > logits[best] { best = i }
        return Int32(best)
    }
}
