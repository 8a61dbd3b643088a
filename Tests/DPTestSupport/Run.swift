import Foundation

/// The result of a finished child process.
public struct RunResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let seconds: Double
    public let timedOut: Bool

    /// Standard output lines.
    public var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Launches the package's executables, alone or under a real `mpirun`, for end-to-end tests.
public enum Run {
    /// The folder holding the built products (`dptrain`, `mpi-probe`): the test binary's own.
    public static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// The path of a built executable of this package.
    public static func product(_ name: String) -> String {
        productsDirectory.appendingPathComponent(name).path
    }

    /// Whether `mpirun` is on the PATH.
    public static var hasMPIRun: Bool { which("mpirun") != nil }

    /// Runs `mpirun -n ranks --oversubscribe executable arguments…`, allowing root where needed.
    public static func mpirun(
        _ ranks: Int, _ executable: String, _ arguments: [String] = [],
        environment: [String: String] = [:], timeout: Double = 120
    ) throws -> RunResult {
        var env = environment
        if getuid() == 0 {
            env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        }
        let mpirun = which("mpirun") ?? "/usr/bin/mpirun"
        return try process(
            mpirun, ["-n", String(ranks), "--oversubscribe", "--bind-to", "none", executable] + arguments,
            environment: env, timeout: timeout)
    }

    /// Runs a process to completion (or `timeout` seconds, then kills it), capturing its output.
    public static func process(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        removing: [String] = [], timeout: Double = 120
    ) throws -> RunResult {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("dptrain-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("stdout"), err = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)

        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        // A test process started by mpirun must not make its children think they are ranks of it.
        for key in env.keys where key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("PMI_") {
            env[key] = nil
        }
        for key in removing { env[key] = nil }
        env.merge(environment) { _, new in new }
        child.environment = env
        child.standardOutput = try FileHandle(forWritingTo: out)
        child.standardError = try FileHandle(forWritingTo: err)
        let start = Date()
        try child.run()
        var timedOut = false
        while child.isRunning {
            if Date().timeIntervalSince(start) > timeout {
                timedOut = true
                child.terminate()
                Thread.sleep(forTimeInterval: 2)
                if child.isRunning { kill(child.processIdentifier, SIGKILL) }
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        child.waitUntilExit()
        return RunResult(
            status: child.terminationStatus,
            stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "",
            seconds: Date().timeIntervalSince(start), timedOut: timedOut)
    }

    /// The full path of a command on the PATH, or nil.
    public static func which(_ command: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(command)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
