/// LayerNorm over the last axis, eps 1e-5: out = (x − mean)·rstd·weight + bias.
///
/// inp and out are (N,C) with N = B·T; mean and rstd (N) are saved for the backward pass.
func layerNormForward(
    _ out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    _ inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    N: Int, C: Int
) {
    let eps: Float = 1e-5
    for n in 0..<N {
        let x = inp + n * C
        var m: Float = 0
        for i in 0..<C { m += x[i] }
        m /= Float(C)
        var v: Float = 0
        for i in 0..<C {
            let d = x[i] - m
            v += d * d
        }
        v /= Float(C)
        let s = 1 / (v + eps).squareRoot()
        let o = out + n * C
        for i in 0..<C { o[i] = (x[i] - m) * s * weight[i] + bias[i] }
        mean[n] = m
        rstd[n] = s
    }
}

/// Adds the gradients of `layerNormForward`: dinp (N,C) +=, dweight (C) +=, dbias (C) +=,
/// from dout (N,C), the forward input inp (N,C) and its saved mean and rstd (N).
func layerNormBackward(
    dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    N: Int, C: Int
) {
    for n in 0..<N {
        let x = inp + n * C
        let dy = dout + n * C
        let dx = dinp + n * C
        let m = mean[n]
        let s = rstd[n]
        // The two reductions of the backward pass: mean(w·dy) and mean(w·dy·x̂).
        var dnormMean: Float = 0
        var dnormNormMean: Float = 0
        for i in 0..<C {
            let xhat = (x[i] - m) * s
            let dnorm = weight[i] * dy[i]
            dnormMean += dnorm
            dnormNormMean += dnorm * xhat
        }
        dnormMean /= Float(C)
        dnormNormMean /= Float(C)
        for i in 0..<C {
            let xhat = (x[i] - m) * s
            let dnorm = weight[i] * dy[i]
            dbias[i] += dy[i]
            dweight[i] += xhat * dy[i]
            dx[i] += (dnorm - dnormMean - xhat * dnormNormMean) * s
        }
    }
}
