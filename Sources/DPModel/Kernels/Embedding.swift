import Foundation

/// out (B,T,C) = tokEmbedding[tokens[b,t]] + posEmbedding[t] (positions optional).
///
/// tokens is (B,T) Int32 in 0..<V, tokEmbedding is (V,C), posEmbedding is (maxT,C) with T ≤ maxT.
func embeddingForward(
    _ out: UnsafeMutablePointer<Float>,
    tokens: UnsafePointer<Int32>,
    tokEmbedding: UnsafePointer<Float>, posEmbedding: UnsafePointer<Float>?,
    B: Int, T: Int, C: Int
) {
    for b in 0..<B {
        for t in 0..<T {
            let o = out + (b * T + t) * C
            let e = tokEmbedding + Int(tokens[b * T + t]) * C
            if let posEmbedding {
                let p = posEmbedding + t * C
                for i in 0..<C { o[i] = e[i] + p[i] }
            } else {
                o.update(from: e, count: C)
            }
        }
    }
}

/// Scatter-adds dout (B,T,C) into the tables: dTok[tokens[b,t]] += dout[b,t], dPos[t] += dout[b,t].
func embeddingBackward(
    dTokEmbedding: UnsafeMutablePointer<Float>, dPosEmbedding: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
    B: Int, T: Int, C: Int
) {
    for b in 0..<B {
        for t in 0..<T {
            let d = dout + (b * T + t) * C
            let e = dTokEmbedding + Int(tokens[b * T + t]) * C
            for i in 0..<C { e[i] += d[i] }
            if let dPosEmbedding {
                let p = dPosEmbedding + t * C
                for i in 0..<C { p[i] += d[i] }
            }
        }
    }
}

/// Writes the fixed sinusoidal position table of "Attention Is All You Need" into out (T,C):
/// out[t, 2i] = sin(t·ω_i), out[t, 2i+1] = cos(t·ω_i), ω_i = 10000^(−2i/C). Computed in Double and
/// rounded once to Float, so libm's last-bit differences between machines do not reach the table
/// (short of a Double result within one Double ulp of a Float rounding boundary).
func sinusoidalPositions(_ out: UnsafeMutablePointer<Float>, T: Int, C: Int) {
    for t in 0..<T {
        for j in 0..<C {
            let i = j / 2
            let angle = Double(t) * pow(10000, -Double(2 * i) / Double(C))
            out[t * C + j] = Float(j % 2 == 0 ? sin(angle) : cos(angle))
        }
    }
}
