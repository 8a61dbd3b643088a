/// Multi-head self-attention, after the q, k, v projections and before wo: causal (a decoder's)
/// or bidirectional (an encoder's, `causal` false).
///
/// qkv is (B,T,3C): q in columns 0..<C, k in C..<2C, v in 2C..<3C; head h uses columns
/// h·HS..<(h+1)·HS of each. out is (B,T,C), the heads concatenated. att is (B,NH,T,T), the
/// attention probabilities softmax(q·kᵀ/√HS), with the causal mask (zero above the diagonal)
/// when `causal`, over every position otherwise; saved for the backward pass. Both products go through `matmul` on strided views of qkv
/// (row stride 3C) and out (row stride C), one call per (batch row, head), without copies.
func attentionForward(
    _ out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
    qkv: UnsafePointer<Float>, B: Int, T: Int, C: Int, NH: Int, causal: Bool = true
) {
    let HS = C / NH
    let scale = 1 / Float(HS).squareRoot()
    for b in 0..<B {
        for h in 0..<NH {
            let q = qkv + b * T * 3 * C + h * HS
            let k = q + C
            let v = q + 2 * C
            let p = att + (b * NH + h) * T * T
            // scores (T,T) = q (T,HS) · kᵀ (HS,T) / √HS; causal: the part above the diagonal is masked below.
            matmul(p, ldOut: T, q, lda: 3 * C, k, ldb: 3 * C, transposeB: true, m: T, n: T, k: HS, alpha: scale)
            for t in 0..<T { causalSoftmaxRow(p + t * T, t: causal ? t : T - 1, T: T) }
            // out (T,HS) = p (T,T) · v (T,HS)
            matmul(out + b * T * C + h * HS, ldOut: C, p, lda: T, v, ldb: 3 * C, m: T, n: HS, k: T)
        }
    }
}

/// In place: row[0...t] = softmax(row[0...t]) (max-subtracted, so stable), row[t+1..<T] = 0;
/// t = T − 1 is the softmax of the whole row (no mask).
@inline(__always)
private func causalSoftmaxRow(_ row: UnsafeMutablePointer<Float>, t: Int, T: Int) {
    let maxValue = maximum(row, t + 1)
    for j in 0...t { row[j] = fastExp(row[j] - maxValue) }
    let inv = 1 / sum(row, t + 1)
    for j in 0...t { row[j] *= inv }
    for j in (t + 1)..<T { row[j] = 0 }
}

/// Writes dqkv (B,T,3C) (every element, so it need not be zeroed) from dout (B,T,C), the forward
/// input qkv and the saved probabilities att (B,NH,T,T), with the mask of the forward (`causal`).
/// scratch holds T·T floats.
func attentionBackward(
    dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>, att: UnsafePointer<Float>,
    B: Int, T: Int, C: Int, NH: Int, causal: Bool = true
) {
    let HS = C / NH
    let scale = 1 / Float(HS).squareRoot()
    let dp = scratch
    for b in 0..<B {
        for h in 0..<NH {
            let q = qkv + b * T * 3 * C + h * HS
            let k = q + C
            let v = q + 2 * C
            let dq = dqkv + b * T * 3 * C + h * HS
            let dk = dq + C
            let dv = dq + 2 * C
            let p = att + (b * NH + h) * T * T
            let dy = dout + b * T * C + h * HS
            // dp (T,T) = dy (T,HS) · vᵀ;  dv (T,HS) = pᵀ (T,T) · dy (T,HS)
            matmul(dp, ldOut: T, dy, lda: C, v, ldb: 3 * C, transposeB: true, m: T, n: T, k: HS)
            matmul(dv, ldOut: 3 * C, p, lda: T, transposeA: true, dy, ldb: C, m: T, n: HS, k: T)
            // softmax backward, row by row: ds = p ⊙ (dp − Σⱼ p·dp); zero where masked.
            for t in 0..<T {
                let pRow = p + t * T
                let dRow = dp + t * T
                let last = causal ? t : T - 1
                let pdp = dot(pRow, dRow, last + 1)
                for j in 0...last { dRow[j] = pRow[j] * (dRow[j] - pdp) }
                for j in (last + 1)..<T { dRow[j] = 0 }
            }
            // scores = q·kᵀ·scale, so dq (T,HS) = ds · k · scale and dk (T,HS) = dsᵀ · q · scale.
            matmul(dq, ldOut: 3 * C, dp, lda: T, k, ldb: 3 * C, m: T, n: HS, k: T, alpha: scale)
            matmul(dk, ldOut: 3 * C, dp, lda: T, transposeA: true, q, ldb: 3 * C, m: T, n: HS, k: T, alpha: scale)
        }
    }
}
