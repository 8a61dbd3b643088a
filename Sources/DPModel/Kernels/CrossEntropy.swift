import Foundation

/// Fused softmax and cross-entropy over N rows: probs[r] = softmax(logits[r]),
/// loss_r = −log probs[r][targets[r]]; returns the mean over the N rows (summed in Double).
///
/// logits and probs are (N,V), targets (N) in 0..<V. With loss over all positions N = B·T; with
/// loss on the last position the model passes only those B rows.
func crossEntropyForward(
    probs: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
    N: Int, V: Int
) -> Float {
    var loss = 0.0
    for r in 0..<N {
        let x = logits + r * V
        let p = probs + r * V
        let maxValue = maximum(x, V)
        for j in 0..<V { p[j] = fastExp(x[j] - maxValue) }
        let total = sum(p, V)
        let inv = 1 / total
        for j in 0..<V { p[j] *= inv }
        // −log softmax = log Σ exp(x − max) + max − x_target: finite even when the target's
        // probability underflows.
        loss += Double(log(total) + maxValue - x[Int(targets[r])])
    }
    return Float(loss / Double(N))
}

/// Writes dlogits (N,V) = d(mean loss)/dlogits = (probs − onehot(targets)) / N.
/// dlogits may be the logits buffer.
func crossEntropyBackward(
    dlogits: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
    N: Int, V: Int
) {
    let inv = 1 / Float(N)
    for r in 0..<N {
        let p = probs + r * V
        let d = dlogits + r * V
        for j in 0..<V { d[j] = p[j] * inv }
        d[Int(targets[r])] -= inv
    }
}
