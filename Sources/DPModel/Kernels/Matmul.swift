import COpenBLAS

/// out = alpha · op(a) · op(b) [+ bias broadcast over rows] [+ out when `accumulate`].
///
/// Shapes (row-major, every operand may be a strided view): out is (M,N) with row stride
/// `ldOut`; op(a) is (M,K): a is (M,K) with row stride `lda`, or (K,M) when `transposeA`;
/// op(b) is (K,N): b is (K,N) with row stride `ldb`, or (N,K) when `transposeB`; bias is (N).
///
/// This is the only place DPModel calls BLAS (cblas_sgemm); views are passed through without
/// copies. When `accumulate` is false `out` need not be initialized.
func matmul(
    _ out: UnsafeMutablePointer<Float>, ldOut: Int,
    _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
    _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
    bias: UnsafePointer<Float>? = nil,
    m: Int, n: Int, k: Int, alpha: Float = 1, accumulate: Bool = false
) {
    var beta: Float = accumulate ? 1 : 0
    if let bias {
        for i in 0..<m {
            let row = out + i * ldOut
            if accumulate {
                for j in 0..<n { row[j] += bias[j] }
            } else {
                row.update(from: bias, count: n)
            }
        }
        beta = 1
    }
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta,
        out, blasint(ldOut))
}

/// The naive triple loop with the same contract as `matmul`, summing in Double: the reference
/// the tests hold `matmul` against.
func matmulReference(
    _ out: UnsafeMutablePointer<Float>, ldOut: Int,
    _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
    _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
    bias: UnsafePointer<Float>? = nil,
    m: Int, n: Int, k: Int, alpha: Float = 1, accumulate: Bool = false
) {
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let aip = transposeA ? a[p * lda + i] : a[i * lda + p]
                let bpj = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                sum += Double(aip) * Double(bpj)
            }
            var value = Double(alpha) * sum
            if let bias { value += Double(bias[j]) }
            if accumulate { value += Double(out[i * ldOut + j]) }
            out[i * ldOut + j] = Float(value)
        }
    }
}

/// The backward of a projection `out = inp · weight + bias` (llm.c's `matmul_backward`):
///
///     dinp (N,C)     = dout · weightᵀ        written, or added when `accumulateInput`; skipped when nil
///     dweight (C,OC) += inpᵀ · dout
///     dbias (OC)     += Σ over the N rows of dout
///
/// dout is (N,OC) with row stride `ldOut` (default OC); inp and dinp are (N,C) with row stride
/// `ldInp` (default C); weight and dweight are (C,OC) contiguous. With `transposedWeight` the
/// forward was `out = inp · weightᵀ` (the tied output projection) and weight, dweight are (OC,C):
/// dinp = dout · weight, dweight += doutᵀ · inp. Strided views let the q, k and v projections read
/// their (N,C) slices of the (N,3C) dqkv buffer (ldOut = 3C) without copies.
func matmulBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, ldOut: Int? = nil,
    inp: UnsafePointer<Float>, ldInp: Int? = nil,
    weight: UnsafePointer<Float>, transposedWeight: Bool = false,
    N: Int, C: Int, OC: Int, accumulateInput: Bool = false
) {
    let ldOut = ldOut ?? OC, ldInp = ldInp ?? C
    if transposedWeight {
        if let dinp {
            matmul(dinp, ldOut: ldInp, dout, lda: ldOut, weight, ldb: C, m: N, n: C, k: OC, accumulate: accumulateInput)
        }
        matmul(dweight, ldOut: C, dout, lda: ldOut, transposeA: true, inp, ldb: ldInp, m: OC, n: C, k: N, accumulate: true)
    } else {
        if let dinp {
            matmul(dinp, ldOut: ldInp, dout, lda: ldOut, weight, ldb: OC, transposeB: true, m: N, n: C, k: OC, accumulate: accumulateInput)
        }
        matmul(dweight, ldOut: OC, inp, lda: ldInp, transposeA: true, dout, ldb: ldOut, m: C, n: OC, k: N, accumulate: true)
    }
    if let dbias {
        for i in 0..<N {
            let row = dout + i * ldOut
            for j in 0..<OC { dbias[j] += row[j] }
        }
    }
}
