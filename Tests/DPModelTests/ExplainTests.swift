import Foundation
import Testing
@testable import DPModel

/// `Model.explain` against the model itself: every tensor of the walk-through is recomputed in
/// Double from the tensor before it and the model's weights (1e-5·(1 + |value|)), the loss equals
/// the model's forward with the last-position loss, the error equals P − onehot, dW_out equals
/// the backward's lm_head gradient, and dW_out, dx and the embedding rows' gradients match central
/// finite differences of the loss (h = 2e-3 in Float forwards, 2e-3·(1 + |g|); in Double for dx, 1e-4·(1 + |g|)).
struct ExplainCase: CustomStringConvertible, Sendable {
    let name: String
    let config: ModelConfig
    let tokens: [Int32]
    let target: Int32
    /// The seed example's fixed weights (`SeedExample`), else `fillTestParameters`.
    var seedWeights = false
    var description: String { name }
}

private func gptConfig(tied: Bool, layers: Int) -> ModelConfig {
    var c = ModelConfig.gpt(vocabSize: 7, context: 6, dim: 8, heads: 2, layers: layers)
    c.tiedEmbeddings = tied
    c.activation = .relu
    return c
}

let explainCases: [ExplainCase] = [
    ExplainCase(name: "seed example", config: .seed, tokens: [0, 1], target: 3, seedWeights: true),
    ExplainCase(name: "seed example, one token", config: .seed, tokens: [2], target: 0, seedWeights: true),
    ExplainCase(name: "gpt untied, 2 layers", config: gptConfig(tied: false, layers: 2), tokens: [3, 1, 4, 1, 5], target: 2),
    ExplainCase(name: "gpt tied, 1 layer", config: gptConfig(tied: true, layers: 1), tokens: [6, 0, 2], target: 6),
    ExplainCase(name: "gpt untied, sinusoidal positions", config: gptConfig(tied: false, layers: 1).with(positions: .sinusoidal), tokens: [1, 2, 3, 4], target: 0),
]

/// A model of `c` with its parameters set.
private func makeExplainModel(_ c: ExplainCase) throws -> Model {
    if c.seedWeights { return try SeedExample.makeModel() }
    let model = try Model(config: c.config, maxBatch: 1)
    fillTestParameters(model, seed: 11)
    return model
}

/// The loss −log P[target] at the last position, from a model of the same weights whose config
/// takes the loss there: the public `forward`, independent of `explain`.
private func lastPositionLoss(_ model: Model, _ tokens: [Int32], _ target: Int32) throws -> Float {
    var config = model.config
    config.loss = .last
    let twin = try Model(config: config, maxBatch: 1)
    _ = twin.parameters.update(fromContentsOf: Array(model.parameters))
    return twin.loss(tokens, [Int32](repeating: 0, count: tokens.count - 1) + [target], B: 1, T: tokens.count)
}

/// x (rows × n) · W (n × m) [+ b], in Double.
private func product(_ x: [[Double]], _ w: UnsafeMutableBufferPointer<Float>, _ m: Int, bias: UnsafeMutableBufferPointer<Float>? = nil) -> [[Double]] {
    x.map { row -> [Double] in
        (0..<m).map { j -> Double in
            var sum: Double = bias.map { Double($0[j]) } ?? 0
            for i in 0..<row.count { sum += row[i] * Double(w[i * m + j]) }
            return sum
        }
    }
}

private func rows(_ t: Explanation.Tensor) -> [[Double]] { (0..<t.rows).map { t.row($0).map(Double.init) } }

private func layerNormRows(_ x: [[Double]], _ weight: UnsafeMutableBufferPointer<Float>, _ bias: UnsafeMutableBufferPointer<Float>) -> [[Double]] {
    x.map { row in
        let mean = row.reduce(0, +) / Double(row.count)
        let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(row.count)
        let rstd = 1 / (variance + 1e-5).squareRoot()
        return row.enumerated().map { i, v in (v - mean) * rstd * Double(weight[i]) + Double(bias[i]) }
    }
}

private func softmax(_ row: [Double]) -> [Double] {
    let m = row.max()!
    let e = row.map { $0 == -.infinity ? 0 : exp($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}

private func expectClose(_ got: Explanation.Tensor?, _ want: [[Double]], _ what: String, tolerance: Double = 1e-5) {
    guard let got else { Issue.record("\(what) is missing"); return }
    #expect(got.rows == want.count && got.cols == (want.first?.count ?? 0), "\(what) shape \(got.rows) × \(got.cols)")
    for r in 0..<min(got.rows, want.count) {
        for c in 0..<min(got.cols, want[r].count) {
            let (g, w) = (Double(got[r, c]), want[r][c])
            if w == -.infinity { #expect(g == -.infinity, "\(what)[\(r),\(c)] masked"); continue }
            #expect(abs(g - w) <= tolerance * (1 + abs(w)), "\(what)[\(r),\(c)] \(g) vs \(w)")
        }
    }
}

@Test(arguments: explainCases)
func explainFollowsTheModelsForward(_ c: ExplainCase) throws {
    let model = try makeExplainModel(c)
    let e = try model.explain(tokens: c.tokens, target: c.target)
    let config = model.config
    let (T, C, HS, V) = (c.tokens.count, config.dim, config.headSize, config.vocabSize)
    let p = "blocks.\(e.layer)."
    func w(_ name: String) -> UnsafeMutableBufferPointer<Float> { model.parameter(name)! }

    // X = E[tokens] + positions
    let table = w("tok_embedding")
    let embedded = c.tokens.map { t in (0..<C).map { Double(table[Int(t) * C + $0]) } }
    expectClose(e.tokenEmbedding, embedded, "E[tokens]")
    var x = embedded
    if config.positions != .none {
        // Learned: pos_embedding's rows; sinusoidal: sin/cos(t / 10000^(2i/C)) in Double.
        let pos: [[Double]] = (0..<T).map { t in (0..<C).map { j in
            if let learned = model.parameter("pos_embedding") { return Double(learned[t * C + j]) }
            let angle = Double(t) / pow(10000, Double(2 * (j / 2)) / Double(C))
            return j % 2 == 0 ? sin(angle) : cos(angle)
        } }
        x = zip(x, pos).map { zip($0, $1).map(+) }
        expectClose(e.positions, pos, "positions")
    } else {
        #expect(e.positions == nil)
    }
    expectClose(e.x, x, "X")
    if config.layers == 1 { expectClose(e.blockInput, x, "block input") }

    // Attention of the explained block, from its input.
    var h1 = rows(e.blockInput)
    if config.layerNorm {
        h1 = layerNormRows(h1, w(p + "ln1.weight"), w(p + "ln1.bias"))
        expectClose(e.ln1, h1, "LN1")
    }
    let (q, k, v) = (product(h1, w(p + "attn.wq"), C), product(h1, w(p + "attn.wk"), C), product(h1, w(p + "attn.wv"), C))
    #expect(e.heads.count == config.heads)
    for (h, head) in e.heads.enumerated() {
        let cols = (h * HS)..<((h + 1) * HS)
        expectClose(head.q, q.map { Array($0[cols]) }, "head \(h) Q")
        expectClose(head.k, k.map { Array($0[cols]) }, "head \(h) K")
        expectClose(head.v, v.map { Array($0[cols]) }, "head \(h) V")
        let qh = rows(head.q), kh = rows(head.k), vh = rows(head.v)
        let scores = (0..<T).map { i -> [Double] in (0..<T).map { j -> Double in
            if j > i { return -Double.infinity }
            var dot = 0.0
            for d in 0..<HS { dot += qh[i][d] * kh[j][d] }
            return dot / Double(HS).squareRoot()
        } }
        expectClose(head.scores, scores, "head \(h) scores")
        let a = rows(head.scores).map(softmax)
        expectClose(head.a, a, "head \(h) A")
        let ah = rows(head.a)
        let o = (0..<T).map { i -> [Double] in (0..<HS).map { d -> Double in
            var sum = 0.0
            for j in 0..<T { sum += ah[i][j] * vh[j][d] }
            return sum
        } }
        expectClose(head.o, o, "head \(h) O")
    }
    expectClose(e.concat, (0..<T).map { t in e.heads.flatMap { $0.o.row(t).map(Double.init) } }, "concat")
    let attention = product(rows(e.concat), w(p + "attn.wo"), C)
    expectClose(e.attentionOut, attention, "attention out")

    // FFN.
    var x2 = rows(e.attentionOut)
    if config.residual {
        x2 = zip(rows(e.blockInput), x2).map { zip($0, $1).map(+) }
        expectClose(e.residual1, x2, "residual 1")
    }
    var h2 = x2
    if config.layerNorm {
        h2 = layerNormRows(x2, w(p + "ln2.weight"), w(p + "ln2.bias"))
        expectClose(e.ln2, h2, "LN2")
    }
    expectClose(e.ffnPre, product(rows(e.ln2 ?? (config.residual ? e.residual1! : e.attentionOut)), w(p + "ffn.w1"), config.ffnDim, bias: w(p + "ffn.b1")), "FFN pre-activation")
    #expect(config.activation == .relu)
    expectClose(e.ffnHidden, rows(e.ffnPre).map { $0.map { max(0, $0) } }, "FFN hidden")
    let ffnOut = product(rows(e.ffnHidden), w(p + "ffn.w2"), C, bias: w(p + "ffn.b2"))
    expectClose(e.ffnOut, ffnOut, "FFN out")
    let blockOut = config.residual ? zip(x2, rows(e.ffnOut)).map { zip($0, $1).map(+) } : rows(e.ffnOut)
    expectClose(e.blockOutput, blockOut, "block output")

    // Output.
    var last = [rows(e.blockOutput)[T - 1]]
    if config.layerNorm { last = layerNormRows(last, w("ln_f.weight"), w("ln_f.bias")) }
    expectClose(e.xLast, last, "x_last")
    let wOut: [Float] = config.tiedEmbeddings
        ? (0..<C * V).map { table[($0 % V) * C + $0 / V] } : Array(w("lm_head"))
    let logits = wOut.withUnsafeBufferPointer { b in
        product(rows(e.xLast), UnsafeMutableBufferPointer(mutating: b), V)
    }
    expectClose(e.logits, logits, "logits")
    expectClose(e.probs, [softmax(rows(e.logits)[0])], "P")
    let expectedLoss = -log(Double(e.probs.values[Int(c.target)]))
    #expect(abs(Double(e.loss) - expectedLoss) <= 1e-5 * (1 + expectedLoss), "loss \(e.loss) vs −log P \(expectedLoss)")
    let forwardLoss = try lastPositionLoss(model, c.tokens, c.target)
    #expect(abs(e.loss - forwardLoss) <= 1e-6 * (1 + forwardLoss), "loss \(e.loss) vs the model's forward \(forwardLoss)")
    if c.seedWeights {
        let (xLast, P) = SeedExample.reference(tokens: c.tokens.map(Int.init))
        expectClose(e.xLast, [xLast], "x_last (seed reference)")
        expectClose(e.probs, [P], "P (seed reference)")
    }
}

@Test(arguments: explainCases)
func explainGradientsMatchBackwardAndFiniteDifferences(_ c: ExplainCase) throws {
    let model = try makeExplainModel(c)
    let e = try model.explain(tokens: c.tokens, target: c.target)
    let (C, V) = (model.config.dim, model.config.vocabSize)
    // error = P − onehot(target)
    expectClose(e.error, [(0..<V).map { Double(e.probs.values[$0]) - ($0 == Int(c.target) ? 1 : 0) }], "error", tolerance: 1e-6)
    // dW_out = x_lastᵀ × error, and, untied, the backward's own lm_head gradient.
    expectClose(e.dWOut, (0..<C).map { i in (0..<V).map { j in Double(e.xLast.values[i]) * Double(e.error.values[j]) } }, "dW_out")
    if let lmHead = model.gradient("lm_head") {
        expectClose(e.dWOut, (0..<C).map { i in (0..<V).map { Double(lmHead[i * V + $0]) } }, "dW_out vs backward")
    }

    // Finite differences of the model's loss: W_out entries (untied), embedding rows (untied).
    let h: Float = 2e-3
    func difference(_ name: String, _ index: Int) throws -> Double {
        let view = model.parameter(name)!
        let saved = view[index]
        view[index] = saved + h
        let plus = try lastPositionLoss(model, c.tokens, c.target)
        view[index] = saved - h
        let minus = try lastPositionLoss(model, c.tokens, c.target)
        view[index] = saved
        return (Double(plus) - Double(minus)) / (2 * Double(h))
    }
    if !model.config.tiedEmbeddings {
        for index in 0..<(C * V) {
            let numeric = try difference("lm_head", index)
            let analytic = Double(e.dWOut.values[index])
            #expect(abs(numeric - analytic) <= 2e-3 * (1 + abs(analytic)), "dW_out[\(index)] \(analytic) vs \(numeric)")
        }
        #expect(e.embeddingGradients.map(\.token) == Set(c.tokens).sorted())
        for g in e.embeddingGradients {
            for i in 0..<C {
                let numeric = try difference("tok_embedding", Int(g.token) * C + i)
                #expect(abs(numeric - Double(g.gradient[i])) <= 2e-3 * (1 + abs(numeric)), "dE[\(g.token)][\(i)] \(g.gradient[i]) vs \(numeric)")
            }
        }
    }
    // dx: the loss as a function of x_last alone, −log softmax(x_last·W_out)[target], in Double.
    let table = model.parameter("tok_embedding")!
    let wOut: [Double] = model.config.tiedEmbeddings
        ? (0..<C * V).map { Double(table[($0 % V) * C + $0 / V]) } : model.parameter("lm_head")!.map(Double.init)
    func loss(_ x: [Double]) -> Double {
        let logits = (0..<V).map { j in (0..<C).reduce(0) { $0 + x[$1] * wOut[$1 * V + j] } }
        return -log(softmax(logits)[Int(c.target)])
    }
    let xLast = e.xLast.values.map(Double.init)
    for i in 0..<C {
        var (plus, minus) = (xLast, xLast)
        plus[i] += 1e-4
        minus[i] -= 1e-4
        let numeric = (loss(plus) - loss(minus)) / 2e-4
        #expect(abs(numeric - Double(e.dx.values[i])) <= 1e-4 * (1 + abs(numeric)), "dx[\(i)] \(e.dx.values[i]) vs \(numeric)")
    }
}

@Test func explainRefusesWhatItCannotExplain() throws {
    let model = try Model(config: .seed, maxBatch: 1)
    #expect(throws: ExplainError.emptyPrompt) { try model.explain(tokens: [], target: 0) }
    #expect(throws: ExplainError.promptTooLong(tokens: 3, context: 2)) { try model.explain(tokens: [0, 1, 2], target: 0) }
    #expect(throws: ExplainError.tokenOutsideVocabulary(token: 4, vocabSize: 4)) { try model.explain(tokens: [0, 1], target: 4) }
}
