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

/// A child process running in the background, for tests that signal or kill it mid-run.
///
/// Started with posix_spawn and an empty signal mask: the test runner's worker threads block
/// signals such as SIGUSR1, and a child spawned from one (as Foundation's Process does) would
/// inherit that mask, so mpirun would never see the signals a test sends it.
public final class RunningProcess: @unchecked Sendable {
    public let processIdentifier: pid_t
    private let scratch: URL
    private let start = Date()
    private var exitStatus: Int32?

    /// Starts `mpirun -n ranks --oversubscribe executable arguments…` in the background.
    public convenience init(mpirun ranks: Int, _ executable: String, _ arguments: [String]) throws {
        let mpirun = Run.which("mpirun") ?? "/usr/bin/mpirun"
        try self.init(mpirun, ["-n", String(ranks), "--oversubscribe", "--bind-to", "none", executable] + arguments)
    }

    /// Starts `executable arguments…` (a full path) in the background.
    public init(_ executable: String, _ arguments: [String]) throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-bg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let argv = [executable] + arguments
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("PMI_") {
            env[key] = nil
        }
        if getuid() == 0 {
            env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, scratch.appendingPathComponent("stdout").path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, scratch.appendingPathComponent("stderr").path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, cArgs, cEnv)
        guard code == 0 else { throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EINVAL) }
        processIdentifier = pid
    }

    deinit {
        if exitStatus == nil {
            kill(processIdentifier, SIGKILL)
            _ = reap(blocking: true)
        }
        try? FileManager.default.removeItem(at: scratch)
    }

    public var stdout: String { (try? String(contentsOf: scratch.appendingPathComponent("stdout"), encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: scratch.appendingPathComponent("stderr"), encoding: .utf8)) ?? "" }

    /// Whether the process is still running.
    public var isRunning: Bool { reap(blocking: false) == nil }

    /// Waits until standard output satisfies `condition`; false on timeout or exit.
    public func waitForOutput(timeout: Double = 60, _ condition: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(stdout) { return true }
            if !isRunning { return condition(stdout) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// The process ids of the ranks: mpirun's children (forked by any of its threads).
    public var rankProcessIDs: [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(processIdentifier)/task")) ?? []
        return tasks.flatMap { task -> [Int32] in
            let children = (try? String(contentsOfFile: "/proc/\(processIdentifier)/task/\(task)/children", encoding: .utf8)) ?? ""
            return children.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }.sorted()
    }

    /// Waits for the exit (killing the process after `timeout`) and returns the result.
    public func wait(timeout: Double = 60) -> RunResult {
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while isRunning {
            if Date() > deadline {
                timedOut = true
                kill(processIdentifier, SIGKILL)
                _ = reap(blocking: true)
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return RunResult(status: exitStatus ?? -1, stdout: stdout, stderr: stderr,
                         seconds: Date().timeIntervalSince(start), timedOut: timedOut)
    }

    /// Collects the exit status once the process has ended; nil while it runs.
    private func reap(blocking: Bool) -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        guard waitpid(processIdentifier, &status, blocking ? 0 : WNOHANG) == processIdentifier else { return nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG by hand: Glibc's macros are not imported.
        let signal = status & 0x7f
        exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return exitStatus
    }
}
