import DPTestSupport
import Foundation
import Testing

/// `dptrain explain` end to end: the JSON object's tensors hang together as the text's equations
/// say (the numbers themselves are held to the model in DPModelTests' ExplainTests), the text
/// shows each section with its shape, and bad input is one sentence with status 1.
@Suite struct ExplainCommandTests {
    private func explain(_ arguments: [String]) throws -> RunResult {
        try Run.process(Run.product("dptrain"), ["explain"] + arguments, timeout: 60)
    }

    @Test func jsonHoldsTheSeedExamplesTensors() throws {
        let run = try explain(["--json", "--embedding", "one-hot"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        for key in ["tokens", "X", "heads", "concat", "attention_out", "ffn_hidden", "ffn_out", "x_last", "logits", "P",
                    "loss", "error", "dW_out", "dx"] {
            #expect(object[key] != nil, "\(key) missing")
        }
        #expect(object["tokens"] as? [Int] == [0, 1])
        // The one-hot table: X's rows are the unit vectors of hello (0) and world (1), 2 × 4.
        #expect(object["X"] as? [[Double]] == [[1, 0, 0, 0], [0, 1, 0, 0]])
        let heads = try #require(object["heads"] as? [[String: Any]])
        #expect(heads.count == 2)
        for head in heads {
            for key in ["Q", "K", "V", "A", "O"] { #expect((head[key] as? [[Double]])?.map(\.count) == [2, 2], "\(key)") }
            // The causal mask: hello does not see world.
            let scores = try #require(head["scores"] as? [Any])
            #expect(((scores[0] as? [Any])?[1]) is NSNull)
        }
        let P = try #require(object["P"] as? [Double])
        let loss = try #require(object["loss"] as? Double)
        let error = try #require(object["error"] as? [Double])
        let xLast = try #require(object["x_last"] as? [Double])
        let dW = try #require(object["dW_out"] as? [[Double]])
        #expect(abs(P.reduce(0, +) - 1) < 1e-6)
        #expect(abs(loss + log(P[3])) < 1e-5, "loss = −log P[welcome]")
        for j in 0..<4 { #expect(abs(error[j] - (P[j] - (j == 3 ? 1 : 0))) < 1e-6) }
        for i in 0..<4 { for j in 0..<4 { #expect(abs(dW[i][j] - xLast[i] * error[j]) < 1e-6) } }
        let rows = try #require(object["embedding_gradients"] as? [[String: Any]])
        #expect(rows.compactMap { $0["word"] as? String } == ["hello", "world"])
    }

    @Test func textShowsEverySectionWithItsShape() throws {
        let run = try explain(["--prompt", "world welcome", "--target", "good"])
        #expect(run.status == 0, "\(run.stderr)")
        for line in ["X = E[tokens]  (2 × 4)", "  Q = X·WQ  (2 × 2)", "  scores = Q·Kᵀ/√2  (2 × 2)", "  A = softmax(scores)  (2 × 2)",
                     "Concatenation of the heads  (2 × 4)", "FFN hidden = ReLU(h·W1 + b1)  (2 × 8)", "P = softmax(logits)  (1 × 4)",
                     "dW_out = x_lastᵀ × error  (4 × 4)", "dx = error × W_outᵀ  (1 × 4)"] {
            #expect(run.lines.contains { $0.hasPrefix(line) }, "no line \(line)")
        }
        #expect(run.stdout.contains("target: good = 2"))
        #expect(run.stdout.contains("Loss = −log P[good]"))
    }

    @Test(arguments: [
        (["--target", "goodbye"], "--target's word \"goodbye\" is not in the vocabulary (hello, world, good, welcome)."),
        (["--target", "hello world"], "--target must be one token of the word tokenizer, but \"hello world\" is 2 tokens."),
        (["--prompt", "hello there"], "--prompt's word \"there\" is not in the vocabulary (hello, world, good, welcome)."),
        (["--prompt", "hello world good"], "The prompt has 3 tokens but the model's context is 2; shorten --prompt to at most 2 tokens."),
        (["--prompt", ""], "The prompt has no tokens; give --prompt at least one word of the vocabulary."),
        (["--checkpoint", "/nonexistent/run"], "/nonexistent/run"),
    ])
    func badInputIsOneSentence(_ arguments: [String], _ message: String) throws {
        let run = try explain(arguments)
        #expect(run.status == 1, "\(arguments): status \(run.status)")
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("dptrain: error: ") && lines[0].contains(message), "\(run.stderr)")
    }

    @Test func oneHotTakesNoCheckpoint() throws {
        let run = try explain(["--checkpoint", "/tmp", "--embedding", "one-hot"])
        #expect(run.status == 64)
        #expect(run.stderr.contains("--embedding one-hot replaces the seed preset's initial embedding; it takes no --checkpoint."))
    }
}
