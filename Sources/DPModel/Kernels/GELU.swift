/// √(2/π), the GELU tanh form's constant.
private let geluScale: Float = 0.797_884_56

/// out (N) = gelu(inp) = 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³): GPT-2's tanh form,
/// computed as x·σ(2u) since 0.5·(1 + tanh u) = σ(2u) = 1/(1 + e⁻²ᵘ) (one exponential, one
/// division; `fastExp` is accurate to ~1 ulp).
///
/// When `slope` is given it receives gelu′(inp) (N) = σ + 2x·σ(1 − σ)·u′ from the same σ, so the
/// backward pass is one multiply instead of a second exponential per element.
func geluForward(_ out: UnsafeMutablePointer<Float>, slope: UnsafeMutablePointer<Float>?, _ inp: UnsafePointer<Float>, N: Int) {
    if let slope {
        for i in 0..<N {
            let x = inp[i]
            let u = geluScale * (x + 0.044715 * x * x * x)
            let e = fastExp(-2 * u)
            let s = 1 / (1 + e)
            out[i] = x * s
            let du = geluScale * (1 + 3 * 0.044715 * x * x)
            slope[i] = s + 2 * x * s * (e * s) * du      // 1 − σ = e·σ, without cancellation
        }
    } else {
        for i in 0..<N {
            let x = inp[i]
            let u = geluScale * (x + 0.044715 * x * x * x)
            out[i] = x / (1 + fastExp(-2 * u))
        }
    }
}

/// dinp (N) = gelu′(x)·dout, with gelu′(x) the `slope` saved by `geluForward`. Writes (does not
/// add) dinp; dinp must not overlap dout or slope (the loop only vectorizes when they are apart).
func geluBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, slope: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { dinp[i] = slope[i] * dout[i] }
}
