import DPTestSupport
import Foundation
import Testing

/// `dptrain sample` end to end: train a small model, then generate from its checkpoint.
@Suite(.serialized) struct SampleTests {
    /// A small model on the built-in corpus (char tokenizer): a second or so of training.
    static let small = ["--layers", "2", "--dim", "32", "--heads", "4", "--context", "16", "--batch", "8",
                        "--lr", "3e-3", "--eval-every", "0", "--checkpoint-every", "0", "--log-every", "50"]

    @Test func theSeedModelContinuesHelloWorldWithWelcome() throws {
        let out = try train(["--preset", "seed", "--steps", "300"])
        defer { try? FileManager.default.removeItem(at: out) }
        let one = try sample(out, ["--prompt", "hello world", "--tokens", "1", "--temperature", "0"])
        #expect(one.stdout == "hello world welcome\n")
        // N tokens of the word tokenizer: N more words, whatever they are.
        let six = try sample(out, ["--prompt", "hello world", "--tokens", "6", "--temperature", "0.7", "--seed", "3"])
        let words = six.stdout.split(whereSeparator: \.isWhitespace)
        #expect(words.count == 8 && words.starts(with: ["hello", "world"]), "\(six.stdout)")
    }

    @Test func samplingPrintsNTokensOfTextAndIsDeterministic() throws {
        let out = try train(Self.small + ["--steps", "150"])
        defer { try? FileManager.default.removeItem(at: out) }
        let args = ["--prompt", "The", "--tokens", "80", "--temperature", "0.9", "--top-k", "20", "--seed", "5"]
        let first = try sample(out, args)
        // The char tokenizer: one token is one character; the prompt, 80 of them, a newline.
        #expect(first.stdout.unicodeScalars.count == 3 + 80 + 1, "\(first.stdout)")
        #expect(first.stdout.hasPrefix("The") && first.stdout.hasSuffix("\n"))
        // The same seed gives the same text; the checkpoint directory itself works as well as OUT.
        let checkpoint = out.appendingPathComponent("checkpoints/step-00000150").path
        let again = try Run.process(Run.product("dptrain"), ["sample", "--checkpoint", checkpoint] + args, timeout: 60)
        #expect(again.status == 0 && again.stdout == first.stdout)
        #expect(try sample(out, args + ["--seed", "6"]).stdout != first.stdout)
        // Greedy through the KV cache equals greedy re-running the model over the whole window,
        // well past the context of 16 (the window slides), and an empty prompt starts at a newline.
        let greedy = ["--tokens", "60", "--temperature", "0"]
        let cached = try sample(out, greedy)
        #expect(cached.stdout.unicodeScalars.count == 60 + 1)
        #expect(try sample(out, greedy + ["--no-kv-cache"]).stdout == cached.stdout)
    }

    @Test func aByteTokenizerPrintsMultiByteCharactersWhole() throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-sample-\(UUID().uuidString).txt")
        try String(repeating: "über café ☃ naïve ", count: 400).write(to: data, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: data) }
        let out = try train(Self.small + ["--steps", "200", "--data", data.path, "--tokenizer", "byte"])
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try sample(out, ["--prompt", "über", "--tokens", "120", "--temperature", "0"])
        // Each token is one byte: decoded one by one, é, ☃ and ï would come out as U+FFFD. Only the
        // last character may be cut (the 120th byte may start a character), and is then U+FFFD.
        var text = run.stdout.unicodeScalars.dropLast()
        if text.last == "\u{FFFD}" { text = text.dropLast() }
        #expect(!text.contains("\u{FFFD}"), "\(run.stdout)")
        #expect(run.stdout.contains("☃") && run.stdout.contains("café"), "\(run.stdout)")
    }

    @Test func badInputsAreOneSentence() throws {
        let seed = try train(["--preset", "seed", "--steps", "10"])
        let chars = try train(Self.small + ["--steps", "2"])
        defer { [seed, chars].forEach { try? FileManager.default.removeItem(at: $0) } }
        let cases: [([String], String)] = [
            (["--checkpoint", "/nonexistent/run"], "dptrain: error: /nonexistent/run does not exist"),
            (["--checkpoint", chars.path, "--prompt", "snow☃man"], "The prompt's character \"☃\" (at character 4) is not in the checkpoint's char tokenizer vocabulary"),
            (["--checkpoint", seed.path, "--prompt", "hello goodbye"], "The prompt's word \"goodbye\" is not in the checkpoint's word tokenizer vocabulary"),
            (["--checkpoint", seed.path, "--tokens", "0"], "--tokens must be between 1 and 100000000, not 0."),
            (["--checkpoint", seed.path, "--temperature=-1"], "--temperature must be a number from 0 (greedy) to 1000000, not -1.0."),
            (["--checkpoint", seed.path, "--top-k", "0"], "--top-k must be at least 1"),
        ]
        for (arguments, message) in cases {
            let run = try Run.process(Run.product("dptrain"), ["sample"] + arguments, timeout: 60)
            #expect(run.status != 0)
            #expect(run.stdout.isEmpty, "\(arguments): \(run.stdout)")
            let firstLine = run.stderr.split(separator: "\n").first.map(String.init) ?? ""
            #expect(firstLine.contains(message) && firstLine.hasSuffix("."), "\(arguments): \(run.stderr)")
        }
    }

    @Test func underMPIRunRankZeroAlonePrints() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let out = try train(["--preset", "seed", "--steps", "300"])
        defer { try? FileManager.default.removeItem(at: out) }
        let args = ["sample", "--checkpoint", out.path, "--prompt", "hello world", "--tokens", "4", "--seed", "9"]
        let solo = try Run.process(Run.product("dptrain"), args, timeout: 60)
        let two = try Run.mpirun(2, Run.product("dptrain"), args)
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stdout == solo.stdout && solo.stdout.hasPrefix("hello world welcome"), "\(two.stdout) vs \(solo.stdout)")
        let missing = try Run.mpirun(2, Run.product("dptrain"), ["sample", "--checkpoint", "/nonexistent/run"])
        #expect(missing.status != 0)
        #expect(missing.stderr.components(separatedBy: "does not exist").count == 2, "one report: \(missing.stderr)")
    }

    // MARK: - Helpers

    /// Trains one process (no MPI) into a fresh OUT and returns it.
    func train(_ arguments: [String]) throws -> URL {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-sample-\(UUID().uuidString)")
        let run = try Run.process(Run.product("dptrain"), ["train"] + arguments + ["--out", out.path], timeout: 120)
        try #require(run.status == 0, "training failed: \(run.stderr)")
        return out
    }

    /// `dptrain sample --checkpoint OUT arguments…`, which must succeed.
    func sample(_ out: URL, _ arguments: [String]) throws -> RunResult {
        let run = try Run.process(Run.product("dptrain"), ["sample", "--checkpoint", out.path] + arguments, timeout: 60)
        #expect(run.status == 0, "\(arguments): \(run.stderr)")
        return run
    }
}
