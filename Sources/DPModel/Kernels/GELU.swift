/// √(2/π), the GELU tanh form's constant.
private let geluScale: Float = 0.797_884_56

/// tanh(u) = 1 − 2/(e²ᵘ + 1), absolute error ~1e-7 (what GELU's 0.5·(1 + tanh) needs).
@inline(__always)
private func tanhApprox(_ u: Float) -> Float {
    1 - 2 / (fastExp(2 * u) + 1)
}

/// out (N) = gelu(inp) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's tanh form.
func geluForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, N: Int) {
    for i in 0..<N {
        let x = inp[i]
        let th = tanhApprox(geluScale * (x + 0.044715 * x * x * x))
        out[i] = 0.5 * x * (1 + th)
    }
}

/// dinp (N) = gelu′(inp)·dout. Writes (does not add) dinp, which may be the same buffer as dout.
func geluBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, N: Int) {
    for i in 0..<N {
        let x = inp[i]
        let th = tanhApprox(geluScale * (x + 0.044715 * x * x * x))
        let dth = (1 - th * th) * geluScale * (1 + 3 * 0.044715 * x * x)
        dinp[i] = (0.5 * (1 + th) + 0.5 * x * dth) * dout[i]
    }
}
