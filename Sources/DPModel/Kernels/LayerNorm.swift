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
        let m = sum(x, C) / Float(C)
        let v = sumOfSquares(x, minus: m, C) / Float(C)
        let s = 1 / (v + eps).squareRoot()
        let o = out + n * C
        for i in 0..<C { o[i] = (x[i] - m) * s * weight[i] + bias[i] }
        mean[n] = m
        rstd[n] = s
    }
}

/// Adds the gradients of `layerNormForward`: dinp (N,C) +=, dweight (C) +=, dbias (C) +=,
/// from dout (N,C), the forward input inp (N,C) and its saved mean and rstd (N).
/// scratch holds 2·C floats.
func layerNormBackward(
    dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    scratch: UnsafeMutablePointer<Float>, N: Int, C: Int
) {
    let xhat = scratch, dnorm = scratch + C
    for n in 0..<N {
        let x = inp + n * C
        let dy = dout + n * C
        let dx = dinp + n * C
        let m = mean[n]
        let s = rstd[n]
        for i in 0..<C {
            xhat[i] = (x[i] - m) * s
            dnorm[i] = weight[i] * dy[i]
        }
        // The two reductions of the backward pass: mean(w·dy) and mean(w·dy·x̂).
        let dnormMean = sum(dnorm, C) / Float(C)
        let dnormNormMean = dot(dnorm, xhat, C) / Float(C)
        for i in 0..<C {
            dbias[i] += dy[i]
            dweight[i] += xhat[i] * dy[i]
            dx[i] += (dnorm[i] - dnormMean - xhat[i] * dnormNormMean) * s
        }
    }
}
