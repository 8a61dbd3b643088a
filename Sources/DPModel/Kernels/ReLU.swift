/// out (N) = max(0, inp).
func reluForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { out[i] = max(inp[i], 0) }
}

/// dinp (N) = dout where inp > 0, else 0. Writes (does not add) dinp.
/// dinp must not overlap dout or inp: the compiler checks at run time and only vectorizes when
/// they are apart.
func reluBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { dinp[i] = inp[i] > 0 ? dout[i] : 0 }
}
