import Testing
@testable import DPModel

struct MatmulCase: CustomStringConvertible, Sendable {
    let transposeA, transposeB, bias, accumulate: Bool
    var description: String { "tA \(transposeA) tB \(transposeB) bias \(bias) acc \(accumulate)" }
}

let matmulCases: [MatmulCase] = [false, true].flatMap { ta in
    [false, true].flatMap { tb in
        [false, true].flatMap { bias in
            [false, true].map { acc in MatmulCase(transposeA: ta, transposeB: tb, bias: bias, accumulate: acc) }
        }
    }
}

/// `matmul` (OpenBLAS) against the naive Double-accumulating reference, on strided views
/// (row strides larger than the rows) so that ld handling is checked too. Tolerance 1e-5 of
/// the largest |value|: K = 37 products of O(1) Floats round to ~1e-6, a wrong index is O(1).
@Test(arguments: matmulCases)
func matmulAgreesWithReference(_ c: MatmulCase) {
    let (M, N, K) = (13, 17, 37)
    var r = TestRandom(seed: 3)
    // Operands are stored with a few extra columns, which must be neither read nor written.
    let aRows = c.transposeA ? K : M, aCols = c.transposeA ? M : K, lda = aCols + 3
    let bRows = c.transposeB ? N : K, bCols = c.transposeB ? K : N, ldb = bCols + 5
    let ldOut = N + 2
    let a = (0..<aRows * lda).map { _ in r.normal() }
    let b = (0..<bRows * ldb).map { _ in r.normal() }
    let bias = (0..<N).map { _ in r.normal() }
    let initial = (0..<M * ldOut).map { _ in r.normal() }
    var fast = initial
    var slow = initial
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            bias.withUnsafeBufferPointer { bias in
                let biasPointer = c.bias ? bias.baseAddress! : nil
                fast.withUnsafeMutableBufferPointer { out in
                    matmul(out.baseAddress!, ldOut: ldOut, a.baseAddress!, lda: lda, transposeA: c.transposeA,
                           b.baseAddress!, ldb: ldb, transposeB: c.transposeB, bias: biasPointer,
                           m: M, n: N, k: K, alpha: 0.75, accumulate: c.accumulate)
                }
                slow.withUnsafeMutableBufferPointer { out in
                    matmulReference(out.baseAddress!, ldOut: ldOut, a.baseAddress!, lda: lda, transposeA: c.transposeA,
                                    b.baseAddress!, ldb: ldb, transposeB: c.transposeB, bias: biasPointer,
                                    m: M, n: N, k: K, alpha: 0.75, accumulate: c.accumulate)
                }
            }
        }
    }
    let scale = slow.map(abs).max()!
    for i in 0..<M {
        for j in 0..<ldOut {
            let index = i * ldOut + j
            if j < N {
                #expect(abs(fast[index] - slow[index]) <= 1e-5 * scale, "out[\(i),\(j)]")
            } else {
                #expect(fast[index] == initial[index], "padding out[\(i),\(j)] was written")
            }
        }
    }
}

/// The reference itself, on a product small enough to do by hand.
@Test func matmulReferenceByHand() {
    // [1 2; 3 4] · [5 6; 7 8] + [1, −1] = [20 21; 44 49]
    let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8], bias: [Float] = [1, -1]
    var out = [Float](repeating: 0, count: 4)
    matmulReference(&out, ldOut: 2, a, lda: 2, b, ldb: 2, bias: bias, m: 2, n: 2, k: 2)
    #expect(out == [20, 21, 44, 49])
}

struct MatmulBackwardCase: CustomStringConvertible, Sendable {
    let transposedWeight, accumulateInput: Bool
    var description: String { "transposed weight \(transposedWeight), accumulate dinp \(accumulateInput)" }
}

/// `matmulBackward` against the naive reference: dinp = dout·Wᵀ (or dout·W when transposed),
/// dweight += inpᵀ·dout (or doutᵀ·inp), dbias += column sums, on strided dout and inp/dinp
/// (ldOut = OC + 3, ldInp = C + 2, as the q/k/v slices of dqkv are) whose padding must stay
/// untouched. Tolerance 1e-5 of the largest |value|, as for `matmul`: sums of ≤ 29 products of
/// O(1) floats round to ~1e-6, a wrong index or a missing term is O(1).
@Test(arguments: [false, true].flatMap { t in [false, true].map { MatmulBackwardCase(transposedWeight: t, accumulateInput: $0) } })
func matmulBackwardAgreesWithReference(_ c: MatmulBackwardCase) {
    let (N, C, OC) = (29, 11, 7)
    let (ldOut, ldInp) = (OC + 3, C + 2)
    var r = TestRandom(seed: 17)
    func random(_ count: Int) -> [Float] { (0..<count).map { _ in r.normal() } }
    let dout = random(N * ldOut), inp = random(N * ldInp), weight = random(C * OC)
    let dinp0 = random(N * ldInp), dweight0 = random(C * OC), dbias0 = random(OC)
    var (dinp, dweight, dbias) = (dinp0, dweight0, dbias0)
    matmulBackward(dinp: &dinp, dweight: &dweight, dbias: &dbias, dout: dout, ldOut: ldOut, inp: inp, ldInp: ldInp,
                   weight: weight, transposedWeight: c.transposedWeight, N: N, C: C, OC: OC, accumulateInput: c.accumulateInput)

    // The reference, written out from the forward out[n,o] = Σ_c inp[n,c]·W[c,o] + b[o]
    // (W[c,o] = weight[o·C + c] when transposed).
    func w(_ ci: Int, _ o: Int) -> Double { Double(c.transposedWeight ? weight[o * C + ci] : weight[ci * OC + o]) }
    var refDinp = dinp0, refDweight = dweight0, refDbias = dbias0
    for n in 0..<N {
        for ci in 0..<C {
            var s = c.accumulateInput ? Double(dinp0[n * ldInp + ci]) : 0
            for o in 0..<OC { s += Double(dout[n * ldOut + o]) * w(ci, o) }
            refDinp[n * ldInp + ci] = Float(s)
        }
    }
    for ci in 0..<C {
        for o in 0..<OC {
            let index = c.transposedWeight ? o * C + ci : ci * OC + o
            var s = Double(dweight0[index])
            for n in 0..<N { s += Double(inp[n * ldInp + ci]) * Double(dout[n * ldOut + o]) }
            refDweight[index] = Float(s)
        }
    }
    for o in 0..<OC { refDbias[o] = Float((0..<N).reduce(Double(dbias0[o])) { $0 + Double(dout[$1 * ldOut + o]) }) }

    for (name, fast, slow) in [("dinp", dinp, refDinp), ("dweight", dweight, refDweight), ("dbias", dbias, refDbias)] {
        let scale = slow.map(abs).max()!
        let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-5 * scale, "\(c): \(name) differs by \(worst) (scale \(scale))")
    }
    for n in 0..<N {
        for ci in C..<ldInp { #expect(dinp[n * ldInp + ci] == dinp0[n * ldInp + ci], "dinp padding [\(n),\(ci)] was written") }
    }
}

/// `matmulBackward(dinp: nil, …)` leaves the input gradient alone and still adds dweight, dbias.
@Test func matmulBackwardWithoutInputGradient() {
    let (N, C, OC) = (3, 2, 2)
    // out = inp·W + b, dout = ones: dW[c,o] = Σ_n inp[n,c], db[o] = N.
    let inp: [Float] = [1, 2, 3, 4, 5, 6], dout = [Float](repeating: 1, count: N * OC), weight: [Float] = [1, 2, 3, 4]
    var dweight = [Float](repeating: 1, count: C * OC), dbias = [Float](repeating: 0, count: OC)
    matmulBackward(dinp: nil, dweight: &dweight, dbias: &dbias, dout: dout, inp: inp, weight: weight, N: N, C: C, OC: OC)
    #expect(dweight == [10, 10, 13, 13])
    #expect(dbias == [3, 3])
}
