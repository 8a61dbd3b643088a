/// √(2/π), the GELU tanh form's constant.
private let geluScale: Float = 0.797_884_56

/// tanh(u) = 1 − 2/(e²ᵘ + 1), absolute error ~1e-7 (what GELU's 0.5·(1 + tanh) needs).
@inline(__always)
private func tanhApprox(_ u: Float) -> Float {
    1 - 2 / (fastExp(2 * u) + 1)
}

/// out (N) = gelu(inp) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's tanh form.
///
/// When `slope` is given it receives gelu′(inp) (N), computed here from the same tanh so the
/// backward pass is one multiply instead of a second exponential per element.
func geluForward(_ out: UnsafeMutablePointer<Float>, slope: UnsafeMutablePointer<Float>?, _ inp: UnsafePointer<Float>, N: Int) {
    if let slope {
        for i in 0..<N {
            let x = inp[i]
            let th = tanhApprox(geluScale * (x + 0.044715 * x * x * x))
            out[i] = 0.5 * x * (1 + th)
            let dth = (1 - th * th) * geluScale * (1 + 3 * 0.044715 * x * x)
            slope[i] = 0.5 * (1 + th) + 0.5 * x * dth
        }
    } else {
        for i in 0..<N {
            let x = inp[i]
            let th = tanhApprox(geluScale * (x + 0.044715 * x * x * x))
            out[i] = 0.5 * x * (1 + th)
        }
    }
}

/// dinp (N) = gelu′(x)·dout, with gelu′(x) the `slope` saved by `geluForward`. Writes (does not
/// add) dinp; dinp must not overlap dout or slope (the loop only vectorizes when they are apart).
func geluBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, slope: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { dinp[i] = slope[i] * dout[i] }
}
