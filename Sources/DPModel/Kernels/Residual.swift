/// out (N) = inp1 + inp2: the residual connection x + f(x).
///
/// Its backward is the identity into both inputs. `Model.backward` realizes it without a pass of
/// its own: the gradient of the residual stream stays in one buffer and each branch's backward
/// adds its input gradient into that same buffer (dinp1 += dout, dinp2 += dout with one
/// buffer for both).
func residualForward(_ out: UnsafeMutablePointer<Float>, _ inp1: UnsafePointer<Float>, _ inp2: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { out[i] = inp1[i] + inp2[i] }
}

