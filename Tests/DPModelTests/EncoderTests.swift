import Foundation
import Testing
@testable import DPModel

/// The encoder's two differences from the decoder: attention sees every position, and the loss
/// is the mean over the predicted (masked) positions only. Gradients: GradientCheckTests.
@Suite struct EncoderTests {
    func model(_ architecture: Architecture) throws -> Model {
        let config = smallGPT(activation: .gelu, tied: true, loss: .all).with(architecture: architecture)
        let model = try Model(config: config, maxBatch: 2)
        fillTestParameters(model, seed: 5)
        return model
    }

    /// Changing the last token changes an encoder's logits at position 0 (it sees the future) and
    /// leaves a decoder's (causal) exactly as they were.
    @Test func onlyTheEncoderSeesLaterPositions() throws {
        let (tokens, _) = randomBatch(B: 1, T: 8, V: 11, seed: 3)
        var changed = tokens
        changed[7] = (changed[7] + 1) % 11
        for architecture in Architecture.allCases {
            let m = try model(architecture)
            let before = Array(tokens.withUnsafeBufferPointer { m.forwardAllLogits(tokens: $0, batch: 1, time: 8) }.prefix(11))
            let after = Array(changed.withUnsafeBufferPointer { m.forwardAllLogits(tokens: $0, batch: 1, time: 8) }.prefix(11))
            let difference = zip(before, after).map { abs($0 - $1) }.max()!
            if architecture == .decoder {
                #expect(difference == 0, "a decoder's position 0 must not see position 7")
            } else {
                #expect(difference > 1e-4, "an encoder's position 0 must see position 7 (difference \(difference))")
            }
        }
    }

    /// forward's loss with targets −1 except at a few positions is −log softmax at exactly those
    /// positions, averaged over them (computed here in Double from forwardAllLogits), 1e-5.
    @Test func theMaskedLossIsTheMeanOverThePredictedPositionsOnly() throws {
        let m = try model(.encoder)
        let (B, T, V) = (2, 8, 11)
        let (tokens, all) = randomBatch(B: B, T: T, V: V, seed: 9)
        let predicted: Set<Int> = [1, 4, 6, 8 + 0, 8 + 5]
        let targets = all.indices.map { predicted.contains($0) ? all[$0] : -1 }
        let loss = m.loss(tokens, targets, B: B, T: T)
        let logits = Array(tokens.withUnsafeBufferPointer { m.forwardAllLogits(tokens: $0, batch: B, time: T) })
        var expected = 0.0
        for i in predicted {
            let row = logits[i * V..<(i + 1) * V].map(Double.init)
            let top = row.max()!
            expected += log(row.map { exp($0 - top) }.reduce(0, +)) + top - row[Int(targets[i])]
        }
        expected /= Double(predicted.count)
        #expect(abs(Double(loss) - expected) <= 1e-5 * expected, "\(loss) vs \(expected)")
    }

    /// Old configs (no "architecture") decode as decoders; an encoder round-trips; and an encoder
    /// with the loss on the last token is refused with one sentence.
    @Test func theArchitectureFieldDecodesAndValidates() throws {
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ModelConfig.gpt(vocabSize: 5, context: 4, dim: 8, heads: 2, layers: 1))) as! [String: Any]
        #expect(json["architecture"] as? String == "decoder")
        json.removeValue(forKey: "architecture")
        let old = try JSONDecoder().decode(ModelConfig.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(old.architecture == .decoder)
        let encoder = old.with(architecture: .encoder)
        #expect(try JSONDecoder().decode(ModelConfig.self, from: JSONEncoder().encode(encoder)) == encoder)
        var last = encoder
        last.loss = .last
        #expect(throws: ModelConfigError.encoderWithLastLoss) { try last.validate() }
    }
}
