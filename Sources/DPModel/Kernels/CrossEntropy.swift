import Foundation

/// Fused softmax and cross-entropy over N rows: probs[r] = softmax(logits[r]),
/// loss_r = −log probs[r][targets[r]]; returns the mean over the rows whose target is not
/// `ignoredTarget` (summed in Double; 0 when every row is ignored).
///
/// logits and probs are (N,V), targets (N) in 0..<V or −1 (an encoder's unmasked positions: not
/// predicted, their probs are not computed). With loss over all positions N = B·T; with loss on
/// the last position the model passes only those B rows.
func crossEntropyForward(
    probs: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
    N: Int, V: Int
) -> Float {
    var loss = 0.0
    var counted = 0
    for r in 0..<N where targets[r] != ignoredTarget {
        counted += 1
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
    return counted == 0 ? 0 : Float(loss / Double(counted))
}

/// The target of a position that the loss does not predict (an encoder's unmasked positions).
let ignoredTarget: Int32 = -1

/// The rows of targets (N) that the loss predicts: those whose target is not `ignoredTarget`.
func predictedCount(_ targets: UnsafePointer<Int32>, N: Int) -> Int {
    (0..<N).reduce(0) { $0 + (targets[$1] == ignoredTarget ? 0 : 1) }
}

/// Writes dlogits (N,V) = d(mean loss)/dlogits = (probs − onehot(targets)) / n over the n rows
/// the loss predicts, and 0 in the rows whose target is `ignoredTarget`.
/// dlogits may be the logits buffer.
func crossEntropyBackward(
    dlogits: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
    N: Int, V: Int
) {
    let inv = 1 / Float(max(predictedCount(targets, N: N), 1))
    for r in 0..<N {
        let p = probs + r * V
        let d = dlogits + r * V
        if targets[r] == ignoredTarget {
            d.update(repeating: 0, count: V)
            continue
        }
        for j in 0..<V { d[j] = p[j] * inv }
        d[Int(targets[r])] -= inv
    }
}
