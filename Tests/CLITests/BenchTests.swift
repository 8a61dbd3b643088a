import DPTestSupport
import Foundation
import Testing

/// `dptrain bench`: a smoke run of a few steps on a tiny model; the JSON must carry every key with
/// sane values. Never timed: speed is measured by scripts/bench.sh, not asserted.
@Suite(.serialized) struct BenchTests {
    static let tiny = ["--layers", "1", "--heads", "2", "--dim", "16", "--context", "8", "--vocab-size", "11",
                       "--batch", "2", "--steps", "3", "--warm-up", "1", "--json"]
    static let keys = ["tokens_per_s", "ms_per_step", "ms_min", "ms_max", "mfu", "peak_gflops", "peak_rss_mb",
                       "forward_ms", "backward_ms", "allreduce_ms", "update_ms", "step_ms", "ranks",
                       "threads_per_rank", "tokens_per_step", "parameters", "loss"]

    func object(_ result: RunResult) throws -> [String: Any] {
        let line = try #require(result.lines.last { $0.hasPrefix("{") }, "no JSON line in \(result.stdout)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func oneProcessPrintsEveryKey() throws {
        let result = try Run.process(Run.product("dptrain"), ["bench", "--single-process", "--threads", "1"] + Self.tiny, timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.lines.filter { $0.hasPrefix("{") }.count == 1, "one JSON object: \(result.stdout)")
        let json = try object(result)
        for key in Self.keys { #expect(json[key] != nil, "missing \(key)") }
        #expect((json["step_ms"] as? [Double])?.count == 3)
        #expect(json["tokens_per_step"] as? Int == 2 * 8)
        #expect((json["tokens_per_s"] as? Double ?? 0) > 0)
        #expect((json["mfu"] as? Double ?? 0) > 0)
        #expect((json["peak_rss_mb"] as? [Double])?.count == 1)
        // Uniform random tokens over 11 symbols: the loss starts near ln 11 ≈ 2.40.
        #expect(abs((json["loss"] as? Double ?? 0) - log(11)) < 0.5)
    }

    @Test func twoRanksReportBothRanksMemoryFromRankZeroOnly() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let result = try Run.mpirun(2, Run.product("dptrain"), ["bench", "--threads", "1"] + Self.tiny, timeout: 90)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.lines.filter { $0.hasPrefix("{") }.count == 1, "rank 0 alone prints: \(result.stdout)")
        let json = try object(result)
        #expect(json["ranks"] as? Int == 2)
        #expect(json["tokens_per_step"] as? Int == 2 * 2 * 8)
        let rss = try #require(json["peak_rss_mb"] as? [Double])
        #expect(rss.count == 2 && rss.allSatisfy { $0 > 1 })
    }

    @Test func theTableNamesEveryFigure() throws {
        let args = Self.tiny.filter { $0 != "--json" }
        let result = try Run.process(Run.product("dptrain"), ["bench", "--single-process", "--threads", "1"] + args, timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        for label in ["ms per step", "tokens/s", "MFU", "forward", "backward", "exposed comm", "update", "communication", "peak RSS"] {
            #expect(result.stdout.contains(label), "\(label) in \(result.stdout)")
        }
    }
}
