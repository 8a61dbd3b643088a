/// Causal attention of n new positions over a key/value cache: the rows of `attentionForward`
/// that the new positions produce, without recomputing the old ones.
///
/// q is (n,C), the new rows' queries; keys and values are (T,C) and hold positions
/// 0..<start+n (the new rows' own k and v included). New row i sits at position t = start + i
/// and attends to positions 0...t. out is (n,C), heads concatenated; scores holds t+1 ≤ T floats.
/// Cost O(n·t·C): one position's attention is a pass over the cache.
func cachedAttentionForward(
    _ out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>,
    q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
    start: Int, n: Int, C: Int, NH: Int
) {
    let HS = C / NH
    let scale = 1 / Float(HS).squareRoot()
    for i in 0..<n {
        let t = start + i
        for h in 0..<NH {
            let qh = q + i * C + h * HS
            for j in 0...t { scores[j] = dot(qh, keys + j * C + h * HS, HS) * scale }
            // softmax over 0...t, max-subtracted as in the full kernel.
            let maxValue = maximum(scores, t + 1)
            for j in 0...t { scores[j] = fastExp(scores[j] - maxValue) }
            let inv = 1 / sum(scores, t + 1)
            let o = out + i * C + h * HS
            o.update(repeating: 0, count: HS)
            for j in 0...t {
                let p = scores[j] * inv
                let v = values + j * C + h * HS
                for d in 0..<HS { o[d] += p * v[d] }
            }
        }
    }
}
