import DPData
import DPTestSupport
import Foundation
import Testing

/// `--data` as llm.c shards under a real mpirun: every rank maps its own copies, and one that
/// differs from rank 0's is one sentence naming the shard and the rank's host.
@Suite(.serialized) struct ShardDataTests {
    static let small = ["--layers", "1", "--dim", "16", "--heads", "2", "--context", "8", "--log-every", "1",
                        "--eval-every", "0", "--checkpoint-every", "0", "--warmup", "1"]

    /// A shard directory of the byte tokenizer: train shards of `sizes` tokens, one val shard.
    static func makeShards(in dir: URL, sizes: [Int] = [700, 90, 1200]) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var x: UInt32 = 12345
        func tokens(_ n: Int) -> [Int32] {
            (0..<n).map { _ in x = x &* 1_103_515_245 &+ 12345; return Int32((x >> 16) % 64) }
        }
        for (i, n) in sizes.enumerated() {
            try TokenFile.write(tokens(n), vocabSize: 256, to: dir.appendingPathComponent("tiny_train_00000\(i + 1).bin"))
        }
        try TokenFile.write(tokens(300), vocabSize: 256, to: dir.appendingPathComponent("tiny_val_000000.bin"))
        try Data(#"{"kind":"byte"}"#.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
    }

    /// Losses of metrics.jsonl.
    static func losses(_ out: URL) throws -> [Double] {
        try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double
        }
    }

    @Test(arguments: ["shuffle", "sequential"])
    func shardsTrainAlikeOnAnyWorldSizeAndFromRankZero(sampler: String) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let root = try scratch(); defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("shards")
        try Self.makeShards(in: data)
        let common = Self.small + ["--sampler", sampler, "--steps", "3"]
        func run(_ ranks: Int, _ extra: [String], data: String) throws -> [Double] {
            let out = root.appendingPathComponent(UUID().uuidString)
            let args = ["train", "--data", data, "--out", out.path] + common + extra
            let result = ranks == 1 ? try Run.process(Run.product("dptrain"), args) : try Run.mpirun(ranks, Run.product("dptrain"), args)
            try #require(result.status == 0, "dptrain failed (\(result.status)): \(result.stderr)")
            #expect(result.stdout.contains("3 train / 1 val shards"), "\(result.stdout)")
            return try Self.losses(out)
        }
        let four = try run(4, ["--batch", "2"], data: data.path)
        let one = try run(1, ["--batch", "8"], data: data.path + "/tiny_*.bin")
        let broadcast = try run(4, ["--batch", "2", "--data-from-rank0"], data: data.path)
        #expect(four.count == 3)
        for (a, b) in zip(four, one) { #expect(abs(a - b) <= 1e-5 * abs(a), "\(four) vs \(one)") }
        #expect(four == broadcast, "mapping and broadcasting must give the same batches")
    }

    /// Rank 1 runs in another working directory whose relative `shards` is another copy, as on a
    /// second host without a shared file system; each way it differs is refused before step 1.
    @Test(arguments: ["missing", "extra", "differs", "truncated"])
    func aShardThatDiffersOnOneRankIsNamedWithItsHost(change: String) throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let root = try scratch(); defer { try? FileManager.default.removeItem(at: root) }
        let (a, b) = (root.appendingPathComponent("a"), root.appendingPathComponent("b"))
        try Self.makeShards(in: a.appendingPathComponent("shards"))
        try Self.makeShards(in: b.appendingPathComponent("shards"))
        let shard = b.appendingPathComponent("shards/tiny_train_000002.bin")
        var expected: String
        switch change {
        case "missing":
            try FileManager.default.removeItem(at: shard)
            expected = "is missing on host"
        case "extra":
            try FileManager.default.copyItem(at: shard, to: b.appendingPathComponent("shards/tiny_train_000009.bin"))
            expected = "tiny_train_000009.bin is on host"
        case "differs":
            var bytes = try Data(contentsOf: shard)
            bytes[bytes.count - 1] ^= 1
            try bytes.write(to: shard)
            expected = "tiny_train_000002.bin on host"
        default:
            let bytes = try Data(contentsOf: shard)
            try bytes.prefix(bytes.count - 2).write(to: shard)
            expected = "tiny_train_000002.bin: has 1202 bytes but its header's token count needs 1204"
        }
        let out = root.appendingPathComponent("out")
        let args = ["train", "--data", "shards", "--out", out.path] + Self.small + ["--steps", "1", "--batch", "1"]
        let mpirun = try #require(Run.which("mpirun"))
        let result = try Run.process(
            mpirun, ["--oversubscribe", "--bind-to", "none", "-n", "1", "--wdir", a.path, Run.product("dptrain")] + args
                + [":", "-n", "1", "--wdir", b.path, Run.product("dptrain")] + args,
            environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"], timeout: 60)
        #expect(!result.timedOut)
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n").filter { $0.contains("tiny_train_00000") }
        #expect(lines.count == 1 && lines[0].contains(expected) && lines[0].contains("(rank 1)"), "\(result.stderr)")
        #expect(lines.first?.contains("copy them to every host") == true, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("metrics.jsonl").path))
    }
}
