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
