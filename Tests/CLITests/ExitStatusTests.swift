import DPTestSupport
import Foundation
import Testing

/// Issue 15 item 9: one convention for every command (DESIGN.md §7): every report starts
/// "dptrain: error: ", a bad command line or --config file exits 64, anything else that fails 1.
@Suite struct ExitStatusTests {
    static let usage: [[String]] = [
        ["train", "--steps", "-5"], ["train", "--bogus-flag"], ["eval", "--checkpoint", "/nowhere", "--batches", "0"],
        ["inspect", "/nowhere", "--losses", "-1"], ["sample", "--checkpoint", "/nowhere", "--temperature", "-1"], ["plot"],
        ["prepare"], ["comm-bench", "--iterations", "0"],
    ]
    static let failures: [[String]] = [
        ["train", "--data", "/nowhere/text.txt", "--out", "/tmp/dptrain-exit-status-\(getpid())"], ["eval", "--checkpoint", "/nowhere"],
        ["inspect", "/nowhere"], ["sample", "--checkpoint", "/nowhere"], ["plot", "/nowhere"], ["prepare", "/nowhere/text.txt", "--tokenizer", "char", "--out", "/tmp/dptrain-exit-status-prepared-\(getpid())"],
    ]

    @Test(arguments: usage.map { ($0, Int32(64)) } + failures.map { ($0, Int32(1)) })
    func everyCommandReportsOneLineWithOnePrefixAndTheConventionalStatus(arguments: [String], status: Int32) throws {
        let result = try Run.process(Run.product("dptrain"), arguments, timeout: 60)
        #expect(result.status == status, "dptrain \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        let reports = result.stderr.split(separator: "\n").filter { $0.hasPrefix("dptrain:") || $0.hasPrefix("Error:") }
        #expect(reports.count == 1 && reports[0].hasPrefix("dptrain: error: "), "dptrain \(arguments.joined(separator: " ")): \(result.stderr)")
    }

    @Test func aConfigFileKeyThatIsNoSettingNamesTheFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-bogus-\(UUID().uuidString).toml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "steps = 3\nbogus_key = 1\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try Run.process(Run.product("dptrain"), ["train", "--config", file.path, "--out", file.path + ".out"], timeout: 60)
        #expect(result.status == 64)
        let reports = result.stderr.split(separator: "\n").filter { $0.hasPrefix("dptrain:") }
        #expect(reports.count == 1 && reports[0].contains(file.path) && reports[0].contains("bogus_key"), "\(result.stderr)")
    }
}
