import DPTestSupport
import Foundation
import Testing

/// `scripts/netns-cluster.sh`: two network namespaces joined by a veth pair stand in for two hosts,
/// and mpirun starts 2 ranks on each through its rsh agent, over TCP only.
///
/// Runs where network namespaces can be made (root with CAP_NET_ADMIN and CAP_SYS_ADMIN, probed by
/// making and deleting a throwaway namespace); elsewhere every test prints why and is skipped.
@Suite(.serialized) struct NetnsClusterTests {
    /// The package root, found from this file: the script and the hostfile live there.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = root.appendingPathComponent("scripts/netns-cluster.sh").path

    /// Why network namespaces cannot be made here, or nil when they can.
    static let unavailableReason: String? = {
        if getuid() != 0 { return "not root, and network namespaces need CAP_NET_ADMIN" }
        guard let ip = Run.which("ip") ?? ["/usr/sbin/ip", "/sbin/ip"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else { return "the ip command (iproute2) is not installed" }
        let name = "dptrain-probe-\(getpid())"
        guard let made = try? Run.process(ip, ["netns", "add", name], timeout: 20) else {
            return "ip could not be started"
        }
        if made.status != 0 {
            return "ip netns add failed: \(made.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        _ = try? Run.process(ip, ["netns", "delete", name], timeout: 20)
        return nil
    }()

    /// Prints why and skips the test when namespaces cannot be made here.
    func requireNamespaces() throws {
        if let reason = Self.unavailableReason {
            print("NetnsClusterTests skipped: \(reason).")
            try Test.cancel("network namespaces cannot be made here: \(reason)")
        }
    }

    /// Runs the script on the built dptrain (no rebuild) with `arguments`.
    func runScript(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 120) throws -> RunResult {
        try Run.process(
            "/bin/bash", [Self.script, "--dptrain", Run.product("dptrain")] + arguments, environment: environment, timeout: timeout)
    }

    /// The namespaces a run announced on stderr ("hosts dpt-a (dpt-a-PID, ...) and dpt-b (dpt-b-PID, ...)").
    func namespaces(of result: RunResult) -> [String] {
        result.stderr.split(whereSeparator: { " (),".contains($0) })
            .map(String.init).filter { $0.hasPrefix("dpt-a-") || $0.hasPrefix("dpt-b-") }
    }

    /// The network namespaces that exist now.
    func existingNamespaces() throws -> [String] {
        let ip = Run.which("ip") ?? "/usr/sbin/ip"
        return try Run.process(ip, ["netns", "list"], timeout: 20).lines.compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    /// Bytes the run reported as having crossed the veth pair, or nil.
    func vethBytes(of result: RunResult) -> Int? {
        guard let line = result.stderr.split(separator: "\n").first(where: { $0.contains("bytes crossed the veth pair") })
        else { return nil }
        return line.split(separator: " ").compactMap { Int($0) }.first
    }

    @Test func infoSeesTwoHostsWithTwoRanksEachAndEverythingIsRemoved() throws {
        try requireNamespaces()
        let result = try runScript(["--", "dptrain", "info"])
        #expect(!result.timedOut)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("world size             4 ranks"), "\(result.stdout)")
        #expect(result.stdout.contains("host dpt-a             2 ranks (0,1)"), "\(result.stdout)")
        #expect(result.stdout.contains("host dpt-b             2 ranks (2,3)"), "\(result.stdout)")
        #expect((vethBytes(of: result) ?? 0) > 0, "the runtime's traffic crosses the veth pair: \(result.stderr)")

        let made = namespaces(of: result)
        #expect(made.count == 2, "\(result.stderr)")
        let left = try existingNamespaces()
        #expect(made.allSatisfy { !left.contains($0) }, "left behind: \(left)")
    }

    @Test func allReduceIsCorrectOverTCPBetweenTheNamespaces() throws {
        try requireNamespaces()
        let result = try runScript(["--", "dptrain", "comm-bench", "--max-bytes", "65536", "--iterations", "2"])
        #expect(!result.timedOut)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("comm-bench: 4 ranks"), "\(result.stdout)")
        let rows = result.lines.filter { $0.hasSuffix(" ok") }
        #expect(rows.count == 5, "4 KiB to 64 KiB, each checked: \(result.stdout)")
        // 2 iterations of 5 sizes, ~124 KiB in all, most of which dpt-b must receive over the veth.
        #expect((vethBytes(of: result) ?? 0) > 65536, "the all-reduce crosses the veth pair: \(result.stderr)")
    }

    @Test func withoutTheCapabilitiesItSaysWhyInOneSentenceAndLeavesNothing() throws {
        try requireNamespaces()
        guard let setpriv = Run.which("setpriv") ?? ["/usr/bin/setpriv", "/bin/setpriv"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else {
            print("NetnsClusterTests: setpriv (util-linux) is missing, so the capabilities cannot be dropped.")
            try Test.cancel("setpriv is missing")
        }
        let before = try existingNamespaces()
        let result = try Run.process(
            setpriv, ["--bounding-set=-net_admin,-sys_admin", "/bin/bash", Self.script, "--dptrain", Run.product("dptrain")],
            timeout: 60)
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        let sentences = result.stderr.split(separator: "\n").filter { $0.hasPrefix("netns-cluster:") }
        #expect(sentences.count == 1, "\(result.stderr)")
        #expect(sentences.first?.contains("cannot make network namespaces") == true, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(Set(try existingNamespaces()) == Set(before))
    }

    @Test func trainingAcrossTheNamespacesMatchesOneHost() throws {
        try requireNamespaces()
        let help = try Run.process(Run.product("dptrain"), ["train", "--help"], timeout: 30)
        guard help.stdout.contains("--sampler") else {
            print("NetnsClusterTests: dptrain has no trainer yet (train --help lists no --sampler); nothing to compare.")
            try Test.cancel("dptrain has no trainer yet")
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-netns-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let result = try runScript(["--compare", "--work", work.path], timeout: 240)
        #expect(!result.timedOut)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("identical"), "\(result.stdout)")

        // Checked again here, independently of the script's own comparison (relative tolerance 1e-5:
        // the transports need not sum in the same order).
        let one = work.appendingPathComponent("one-host"), two = work.appendingPathComponent("two-hosts")
        let lossesOne = try losses(one), lossesTwo = try losses(two)
        #expect(lossesOne.count == 6, "one logged loss per step: \(lossesOne)")
        #expect(lossesOne.map(\.step) == lossesTwo.map(\.step))
        for (a, b) in zip(lossesOne, lossesTwo) {
            #expect(isClose(a.loss, b.loss), "step \(a.step): \(a.loss) vs \(b.loss)")
        }
        let (headerOne, weightsOne) = try finalWeights(one), (headerTwo, weightsTwo) = try finalWeights(two)
        #expect(headerOne == headerTwo, "same tensors, shapes and offsets")
        #expect(weightsOne.count == weightsTwo.count && !weightsOne.isEmpty)
        let differing = zip(weightsOne, weightsTwo).filter { !isClose(Double($0), Double($1)) }
        #expect(differing.isEmpty, "\(differing.count) of \(weightsOne.count) weights differ, e.g. \(differing.prefix(3))")
    }

    /// The overlapped path across the veth pair (uncapped): the bucketed ring with bf16 on the
    /// wire, 2 hosts × 2 ranks over TCP against 4 ranks on one host over shared memory. The flat
    /// ring adds in the same order whatever the transport, so the script's comparison (relative
    /// 1e-5) holds: DPTRAIN_HOST_LEVELS=0 (reaching the ranks of dpt-a, which agree it for all)
    /// keeps the two hosts on the flat ring instead of two levels; the bucket of 0.01 MiB cuts
    /// the 10,000 gradients into 4 or more.
    @Test func bucketedBF16TrainingAcrossTheNamespacesMatchesOneHost() throws {
        try requireNamespaces()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-netns-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let options = ["--steps", "4", "--layers", "1", "--dim", "32", "--heads", "2", "--context", "16", "--batch", "2",
                       "--sampler", "sequential", "--log-every", "1", "--eval-every", "0",
                       "--bucket-mb", "0.01", "--grad-compression", "bf16", "--debug"]
        let result = try runScript(
            ["--compare", "--work", work.path, "--"] + options, environment: ["DPTRAIN_HOST_LEVELS": "0"], timeout: 240)
        #expect(!result.timedOut)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("identical"), "\(result.stdout)")
        #expect((vethBytes(of: result) ?? 0) > 0, "\(result.stderr)")
        let config = try String(contentsOf: work.appendingPathComponent("two-hosts/config.json"), encoding: .utf8)
        #expect(config.contains("\"grad_compression\" : \"bf16\""), "\(config)")
    }

    /// Issue 11 item 3: 2 hosts × 2 ranks reduce every bucket within each host first, then
    /// across the hosts (each rank on its half, with its peer of the same local rank), then within
    /// each host again — automatically, as the job spans 2 hosts with 2 ranks each. It trains the
    /// model of 4 ranks on one host (flat ring) in another summation order: with SGD (the update
    /// is lr·g, no AdamW 1/√v to magnify the last bits of tiny gradients) losses within 1e-5
    /// relative, weights within 1e-4 of max(|w|, 1e-3) (GradientExchangeTests' tolerance for 4
    /// ranks); --debug hashes the replicas every step.
    /// And the link carries 2(H − 1)/H = 1 bucket per step each way instead of the flat ring's
    /// 2(W − 1)/W = 1.5: measured with `dptrain bench`, fewer bytes reach dpt-b.
    @Test func twoHostsReduceWithinEachHostFirst() throws {
        try requireNamespaces()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-netns-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let options = ["--steps", "4", "--layers", "1", "--dim", "32", "--heads", "2", "--context", "16", "--batch", "2",
                       "--sampler", "sequential", "--log-every", "1", "--eval-every", "0", "--optimizer", "sgd", "--lr", "0.05",
                       "--bucket-mb", "0.01", "--debug"]
        // The script's own comparison is relative only (1e-5); a weight near 0 may differ more, so
        // its verdict is not required here, the runs are compared below.
        let compared = try runScript(["--compare", "--work", work.path, "--"] + options, timeout: 240)
        #expect(!compared.timedOut)
        let one = work.appendingPathComponent("one-host"), two = work.appendingPathComponent("two-hosts")
        let lossesOne = try losses(one), lossesTwo = try losses(two)
        #expect(lossesOne.count == 4 && lossesOne.map(\.step) == lossesTwo.map(\.step), "\(compared.stderr)")
        for (a, b) in zip(lossesOne, lossesTwo) { #expect(isClose(a.loss, b.loss), "step \(a.step): \(a.loss) vs \(b.loss)") }
        let (_, weightsOne) = try finalWeights(one), (_, weightsTwo) = try finalWeights(two)
        #expect(weightsOne.count == weightsTwo.count && !weightsOne.isEmpty)
        let worst = zip(weightsOne, weightsTwo).map { Double(abs($0 - $1)) / max(Double(abs($0)), 1e-3) }.max() ?? 0
        #expect(worst <= 1e-4, "weights differ by \(worst) of max(|w|, 1e-3)")

        // 100,000 gradients in 5 steps: 2 MB each way with two levels, 3 MB with the flat ring.
        let bench = ["--", "dptrain", "bench", "--layers", "2", "--dim", "64", "--heads", "2", "--context", "16", "--batch", "2",
                     "--steps", "4", "--warm-up", "1", "--threads", "1", "--bucket-mb", "0.1", "--json"]
        let levels = try runScript(bench, timeout: 180)
        let flat = try runScript(bench, environment: ["DPTRAIN_HOST_LEVELS": "0"], timeout: 180)
        try #require(levels.status == 0 && flat.status == 0, "\(levels.stderr)\(flat.stderr)")
        func json(_ result: RunResult) throws -> [String: Any] {
            let line = try #require(result.lines.first { $0.hasPrefix("{") }, "\(result.stdout)")
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        #expect(try json(levels)["host_levels"] as? [Int] == [2, 2], "\(levels.stdout)")
        #expect(try json(flat)["host_levels"] == nil, "\(flat.stdout)")
        let (bytesLevels, bytesFlat) = (vethBytes(of: levels) ?? 0, vethBytes(of: flat) ?? 0)
        #expect(bytesLevels > 0 && Double(bytesLevels) < 0.85 * Double(bytesFlat),
                "bytes into dpt-b: \(bytesLevels) with two levels, \(bytesFlat) with the flat ring")

        // ZeRO-1: its reduce-scatter and weight all-gather (H − 1)/H each way instead of (W − 1)/W.
        let zeroLevels = try runScript(bench + ["--zero", "1"], timeout: 180)
        let zeroFlat = try runScript(bench + ["--zero", "1"], environment: ["DPTRAIN_HOST_LEVELS": "0"], timeout: 180)
        try #require(zeroLevels.status == 0 && zeroFlat.status == 0, "\(zeroLevels.stderr)\(zeroFlat.stderr)")
        #expect(try json(zeroLevels)["host_levels"] as? [Int] == [2, 2], "\(zeroLevels.stdout)")
        let (zeroBytesLevels, zeroBytesFlat) = (vethBytes(of: zeroLevels) ?? 0, vethBytes(of: zeroFlat) ?? 0)
        #expect(zeroBytesLevels > 0 && Double(zeroBytesLevels) < 0.85 * Double(zeroBytesFlat),
                "bytes into dpt-b with ZeRO-1: \(zeroBytesLevels) with two levels, \(zeroBytesFlat) with the flat ring")
    }

    /// Issue 15 item 1: the veth link goes down after the first checkpoint (a dead switch port).
    /// Every rank's collective watchdog fires within --collective-timeout, one sentence names the
    /// step and the collective, every rank is gone within timeout + 30 s, and LATEST still names a
    /// complete checkpoint.
    @Test func aLinkDownAfterTheFirstCheckpointEndsEveryRankWithinTheTimeout() throws {
        try requireNamespaces()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-netns-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let out = work.appendingPathComponent("out")
        let timeout = 5.0
        let script = try RunningProcess("/bin/bash", [
            Self.script, "--dptrain", Run.product("dptrain"), "--work", work.path, "--", "dptrain", "train",
            "--layers", "1", "--dim", "32", "--heads", "2", "--context", "16", "--batch", "2", "--steps", "1000000",
            "--log-every", "50", "--eval-every", "0", "--checkpoint-every", "50", "--collective-timeout", "\(Int(timeout))",
            "--out", out.path,
        ])
        let latest = out.appendingPathComponent("checkpoints/LATEST")
        let deadline = Date().addingTimeInterval(180)
        while !FileManager.default.fileExists(atPath: latest.path) && script.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
        }
        try #require(FileManager.default.fileExists(atPath: latest.path), "no first checkpoint: \(script.stderr)")
        let suffix = String(script.processIdentifier)
        let (namespaceA, namespaceB, vethA) = ("dpt-a-\(suffix)", "dpt-b-\(suffix)", "dpta-\(suffix)")
        let ip = Run.which("ip") ?? "/usr/sbin/ip"
        let ranksBefore = try dptrainProcesses(in: [namespaceA, namespaceB], ip: ip)
        #expect(ranksBefore.count == 4, "4 ranks before the link goes down: \(ranksBefore)")

        let down = try Run.process(ip, ["-n", namespaceA, "link", "set", vethA, "down"], timeout: 20)
        try #require(down.status == 0, "ip link set down: \(down.stderr)")
        let cut = Date()
        var left = ranksBefore
        while !left.isEmpty && Date().timeIntervalSince(cut) < timeout + 30 {
            Thread.sleep(forTimeInterval: 0.5)
            left = try dptrainProcesses(in: [namespaceA, namespaceB], ip: ip).filter { ranksBefore.contains($0) }
        }
        let seconds = Date().timeIntervalSince(cut)
        #expect(left.isEmpty, "every rank gone within \(Int(timeout)) + 30 s; still running after \(Int(seconds)) s: \(left)")
        // mpirun itself may wait on its daemon across the dead link; the script's clean-up ends it.
        if script.isRunning { kill(script.processIdentifier, SIGTERM) }
        let result = script.wait(timeout: 30)
        let sentences = result.stderr.split(separator: "\n").filter { $0.contains("made no progress for") }
        #expect(!sentences.isEmpty, "the watchdog's sentence: \(result.stderr)")
        #expect(sentences.first?.contains("(--collective-timeout \(Int(timeout)) s)") == true, "\(result.stderr)")
        #expect(sentences.first?.contains("have not answered") == true || sentences.first?.contains("has not answered") == true, "\(result.stderr)")

        // LATEST names a checkpoint that verifies.
        let inspect = try Run.process(Run.product("dptrain"), ["inspect", out.path], timeout: 60)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(Set(try existingNamespaces()).isDisjoint(with: [namespaceA, namespaceB]), "namespaces removed")
    }

    /// The pids of the dptrain processes in `namespaces`.
    func dptrainProcesses(in namespaces: [String], ip: String) throws -> Set<Int32> {
        var pids = Set<Int32>()
        for namespace in namespaces {
            let listed = try Run.process(ip, ["netns", "pids", namespace], timeout: 20)
            for pid in listed.lines.compactMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) {
                let name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                if name == "dptrain" { pids.insert(pid) }
            }
        }
        return pids
    }

    /// |a − b| ≤ 1e-5 · max(|a|, |b|).
    func isClose(_ a: Double, _ b: Double) -> Bool {
        abs(a - b) <= 1e-5 * max(abs(a), abs(b))
    }

    /// (step, loss) of every logged training step in OUT/metrics.jsonl.
    func losses(_ out: URL) throws -> [(step: Int, loss: Double)] {
        let text = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").compactMap { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let step = object?["step"] as? Int, let value = object?["loss"] else { return nil }
            guard let loss = (value as? Double) ?? (value as? Int).map(Double.init) else { return nil }
            return (step, loss)
        }
    }

    /// The header (length prefix + JSON) and the F32 values of the newest checkpoint's model.safetensors.
    func finalWeights(_ out: URL) throws -> (header: Data, values: [Float]) {
        let checkpoints = out.appendingPathComponent("checkpoints")
        let latest = try String(contentsOf: checkpoints.appendingPathComponent("LATEST"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let data = try Data(contentsOf: checkpoints.appendingPathComponent(latest).appendingPathComponent("model.safetensors"))
        try #require(data.count >= 8)
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        try #require(8 + headerLength <= data.count && (data.count - 8 - headerLength) % 4 == 0)
        let body = data.dropFirst(8 + headerLength)
        let values = stride(from: body.startIndex, to: body.endIndex, by: 4).map { i in
            Float(bitPattern: body[i..<i + 4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) })
        }
        return (data.prefix(8 + headerLength), values)
    }
}
