import DPData
import DPTestSupport
import Foundation
import Testing

/// `dptrain prepare` under a real mpirun: the ranks tokenize byte ranges of the input at once and
/// write shards whose tokens are exactly one process's train.bin and val.bin.
@Suite(.serialized) struct ParallelPrepareTests {
    /// About 190 KB of lines of every kind: words, punctuation, numbers, multi-byte scalars,
    /// blank lines, trailing spaces and tabs, CRLF, lines starting with spaces.
    static let text: String = (0..<6000).map { i in
        ["The cat sat on the mat, didn't it?", "  indented line\twith a tab", "", "naïve café — 東京 🚀 ok \(i % 97) cafe\u{301}",
         "trailing spaces   ", "'s quoted \"words\" (and brackets).\r", "\(i) \(i * 7919 % 1000) numbers, 8.9!", "\t", "x"][i % 9]
    }.joined(separator: "\n") + "\n"

    /// The tokens of token files (headers dropped), concatenated.
    static func tokens(_ files: [URL]) throws -> Data {
        var all = Data()
        for file in files { all += try Data(contentsOf: file).dropFirst(1024) }
        return all
    }

    @Test(arguments: ["char", "byte", "word", "bpe"])
    func ranksWriteTheTokensOfOneProcess(tokenizer: String) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let root = try scratch(); defer { try? FileManager.default.removeItem(at: root) }
        let input = root.appendingPathComponent("input.txt")
        try Data(Self.text.utf8).write(to: input)
        let args = tokenizer == "bpe" ? ["--tokenizer", "bpe", "--vocab-size", "300"] : ["--tokenizer", tokenizer]
        func prepare(_ ranks: Int, _ out: URL) throws -> RunResult {
            let command = ["prepare", input.path, "--out", out.path, "--val-fraction", "0.15"] + args
            let result = ranks == 1 ? try Run.process(Run.product("dptrain"), command, timeout: 120)
                                    : try Run.mpirun(ranks, Run.product("dptrain"), command, timeout: 120)
            try #require(result.status == 0, "prepare on \(ranks) ranks failed (\(result.status)): \(result.stderr)")
            return result
        }
        let one = root.appendingPathComponent("one")
        _ = try prepare(1, one)
        let train = try Self.tokens([one.appendingPathComponent("train.bin")]), val = try Self.tokens([one.appendingPathComponent("val.bin")])
        for ranks in [2, 4] {
            let out = root.appendingPathComponent("ranks-\(ranks)")
            _ = try prepare(1, out)  // an earlier one-process prepare there: its train.bin must go
            let result = try prepare(ranks, out)
            #expect(result.stdout.contains("on \(ranks) ranks"), "\(result.stdout)")
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("train.bin").path))
            let files = try #require(try DataFiles.find(out.path))
            #expect(files.train.count >= 1 && files.train.count <= ranks && files.val.count >= 1)
            #expect(try Self.tokens(files.train) == train, "train tokens differ on \(ranks) ranks")
            #expect(try Self.tokens(files.val) == val, "val tokens differ on \(ranks) ranks")
            #expect(try Data(contentsOf: out.appendingPathComponent("tokenizer.json")) == Data(contentsOf: one.appendingPathComponent("tokenizer.json")))
            let hidden = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasPrefix(".") }
            #expect(hidden.isEmpty, "left behind: \(hidden)")
        }
    }

    /// `--shard-tokens N` below a split's size: one process and 2 ranks write shards of at most N
    /// tokens whose tokens in name order are the default run's train.bin and val.bin, and which
    /// train; 0 is one sentence and exit 64.
    @Test func shardTokensCutsTheSplitsIntoShardsOfAtMostN() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let root = try scratch(); defer { try? FileManager.default.removeItem(at: root) }
        let input = root.appendingPathComponent("input.txt")
        try Data(Self.text.utf8).write(to: input)
        func prepare(_ ranks: Int, _ out: URL, _ extra: [String]) throws -> RunResult {
            let command = ["prepare", input.path, "--tokenizer", "char", "--out", out.path, "--val-fraction", "0.15"] + extra
            let result = ranks == 1 ? try Run.process(Run.product("dptrain"), command, timeout: 120)
                                    : try Run.mpirun(ranks, Run.product("dptrain"), command, timeout: 120)
            try #require(result.status == 0, "prepare on \(ranks) ranks failed (\(result.status)): \(result.stderr)")
            return result
        }
        let plain = root.appendingPathComponent("plain")
        _ = try prepare(1, plain, [])
        let train = try Self.tokens([plain.appendingPathComponent("train.bin")]), val = try Self.tokens([plain.appendingPathComponent("val.bin")])
        let n = 8_000  // several shards of each split
        let trainShards = (train.count / 2 + n - 1) / n, valShards = (val.count / 2 + n - 1) / n  // uint16 tokens
        #expect(trainShards > 2 && valShards > 1)
        for ranks in [1, 2] {
            let out = root.appendingPathComponent("sharded-\(ranks)")
            let result = try prepare(ranks, out, ["--shard-tokens", String(n)])
            let files = try #require(try DataFiles.find(out.path))
            if ranks == 1 {
                #expect(files.train.count == trainShards && files.val.count == valShards, "\(files.train.count) / \(files.val.count) shards")
            } else {
                #expect(files.train.count >= trainShards && files.train.count <= trainShards + 1 && files.val.count >= valShards)
            }
            #expect(result.stdout.contains("\(files.train.count) train shards") && result.stdout.contains("\(files.val.count) val shard"), "\(result.stdout)")
            #expect(files.train.map(\.lastPathComponent) == (0..<files.train.count).map { String(format: "data_train_%06d.bin", $0) })
            #expect(files.val.map(\.lastPathComponent) == (0..<files.val.count).map { String(format: "data_val_%06d.bin", $0) })
            for file in files.train + files.val {
                let tokens = try TokenFile.read(file, vocabSize: nil).count
                #expect(tokens >= 1 && tokens <= n, "\(file.lastPathComponent): \(tokens) tokens")
            }
            #expect(try Self.tokens(files.train) == train, "train tokens differ on \(ranks) ranks")
            #expect(try Self.tokens(files.val) == val, "val tokens differ on \(ranks) ranks")
        }
        let trained = try Run.process(Run.product("dptrain"), ["train", "--data", root.appendingPathComponent("sharded-1").path,
                                                              "--out", root.appendingPathComponent("run").path, "--steps", "2",
                                                              "--layers", "1", "--dim", "16", "--heads", "2", "--context", "8",
                                                              "--eval-every", "0", "--checkpoint-every", "0", "--warmup", "1"], timeout: 120)
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("\(trainShards) train / \(valShards) val shards"), "\(trained.stdout)")

        let zero = try Run.process(Run.product("dptrain"), ["prepare", input.path, "--tokenizer", "char", "--out",
                                                           root.appendingPathComponent("zero").path, "--shard-tokens", "0"], timeout: 60)
        #expect(zero.status == 64)
        let lines = zero.stderr.split(separator: "\n").filter { $0.hasPrefix("dptrain:") || $0.hasPrefix("Error:") }
        #expect(lines.count == 1 && lines[0].contains("--shard-tokens must be between 1 and"), "\(zero.stderr)")
    }

    /// Text that is not UTF-8 only in its last part fails on the last rank alone; rank 0 says so
    /// in one sentence and every rank exits, none left waiting.
    @Test func aFailureOnOneRankIsOneSentenceFromRankZero() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let root = try scratch(); defer { try? FileManager.default.removeItem(at: root) }
        let input = root.appendingPathComponent("input.txt")
        try (Data(Self.text.utf8) + Data([0xFF, 0xFE]) + Data("tail\n".utf8)).write(to: input)
        let result = try Run.mpirun(2, Run.product("dptrain"), ["prepare", input.path, "--tokenizer", "char", "--out", root.appendingPathComponent("out").path], timeout: 60)
        #expect(!result.timedOut)
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n").filter { $0.contains("not UTF-8") }
        #expect(lines.count == 1 && lines[0].hasPrefix("dptrain: error: \(input.path) is not UTF-8"), "\(result.stderr)")

        let missing = try Run.mpirun(2, Run.product("dptrain"), ["prepare", root.appendingPathComponent("none.txt").path, "--tokenizer", "bpe", "--out", root.appendingPathComponent("out").path], timeout: 60)
        #expect(missing.status != 0 && !missing.timedOut)
        #expect(missing.stderr.split(separator: "\n").filter { $0.contains("none.txt") }.count == 1, "\(missing.stderr)")
    }
}
