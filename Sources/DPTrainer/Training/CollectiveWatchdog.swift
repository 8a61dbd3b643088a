import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ends the job when a collective makes no progress: a rank stopped (SIGSTOP, a hung node) or a
/// network link gone dead leaves every other rank waiting inside MPI forever, burning a whole batch
/// allocation. PyTorch's process groups time their collectives out; this is dptrain's equivalent.
///
/// A wait is armed around a named collective (`arm`/`disarm`, or `guarding`), from any thread — the
/// main thread or a communication thread — and several may be armed at once. A monitor thread looks
/// every quarter second; when one wait has lasted longer than `limit` it writes one sentence to
/// standard error (the step, the collective, how long it waited, the ranks and hosts that may not
/// have answered) and ends the process with `_exit(1)`. That is all a thread may do while the main
/// thread is blocked inside MPI under MPI_THREAD_FUNNELED (MPI_Abort from another thread would need
/// MPI_THREAD_MULTIPLE); mpirun then ends the other ranks, as for any rank that exits non-zero, and
/// with a dead link each rank's own watchdog fires. Nothing is written to OUT, so LATEST still names
/// the last complete checkpoint (a checkpoint write is never armed).
///
/// The limit is fixed (`--collective-timeout SECONDS`) or adaptive: the larger of
/// `minimumSeconds` and `slowestStepMultiple` times the slowest step so far, so it suits steps of
/// any size.
public final class CollectiveWatchdog: Sendable {
    /// How long a collective may wait.
    public enum Limit: Sendable, Equatable {
        /// No watchdog.
        case off
        /// Exactly this many seconds.
        case seconds(Double)
        /// max(`minimumSeconds`, `slowestStepMultiple` × the slowest step so far).
        case adaptive

        /// `--collective-timeout`: nil adaptive, 0 off, else seconds.
        public init(setting: Double?) {
            switch setting {
            case nil: self = .adaptive
            case let seconds? where seconds == 0: self = .off
            case let seconds?: self = .seconds(seconds)
            }
        }
    }

    public static let minimumSeconds = 300.0
    public static let slowestStepMultiple = 10.0

    private struct Wait {
        let what: String
        let step: Int
        let since: Double
    }

    private struct State {
        var waits: [Int: Wait] = [:]
        var nextToken = 0
        var slowestStep = 0.0
        /// When the monitor thread last looked.
        var lastCheck: Double?
    }

    public let setting: Limit
    private let state = Mutex(State())
    /// "rank 1 (host b)" or "one of ranks 1, 2, 3 (hosts b, c)": who may not have answered.
    private let peers: String
    private let rank: Int
    private let host: String
    /// Ends the process; replaced in tests.
    private let end: @Sendable (String) -> Void

    /// - Parameters:
    ///   - hosts: every rank's host name, by rank (from an all-gather at start).
    ///   - end: what to do with the sentence when a wait runs out; by default write it to standard
    ///     error and `_exit(1)`.
    public init(limit: Limit, rank: Int, hosts: [String], end: (@Sendable (String) -> Void)? = nil) {
        setting = limit
        self.rank = rank
        host = hosts.indices.contains(rank) ? hosts[rank] : "?"
        let others = hosts.indices.filter { $0 != rank }
        let otherHosts = others.map { hosts[$0] }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        if others.count == 1 {
            peers = "rank \(others[0]) (host \(hosts[others[0]])) has not answered"
        } else {
            let listed = others.prefix(8).map(String.init).joined(separator: ", ") + (others.count > 8 ? ", …" : "")
            peers = "one or more of ranks \(listed) (host\(otherHosts.count == 1 ? "" : "s") \(otherHosts.prefix(8).joined(separator: ", "))) have not answered"
        }
        self.end = end ?? { line in
            let text = line + "\n"
            _ = text.withCString { write(2, $0, strlen($0)) }
            _exit(1)
        }
        guard limit != .off else { return }
        let thread = Thread { [weak self] in
            while let watchdog = self {
                watchdog.check(now: Self.now())
                usleep(250_000)
            }
        }
        thread.name = "dptrain watchdog"
        thread.start()
    }

    /// The limit now, in seconds (infinity when off).
    public var limitSeconds: Double {
        switch setting {
        case .off: .infinity
        case .seconds(let seconds): seconds
        case .adaptive: max(Self.minimumSeconds, Self.slowestStepMultiple * state.withLock { $0.slowestStep })
        }
    }

    /// Starts timing a wait in `what` ("the gradient all-reduce (MPI_Allreduce)") during `step`;
    /// returns the token to `disarm` it with. Any thread.
    public func arm(_ what: String, step: Int) -> Int {
        let now = Self.now()
        return state.withLock { state in
            state.nextToken += 1
            state.waits[state.nextToken] = Wait(what: what, step: step, since: now)
            return state.nextToken
        }
    }

    /// Ends the wait `token` (from `arm`). Any thread.
    public func disarm(_ token: Int) {
        _ = state.withLock { $0.waits.removeValue(forKey: token) }
    }

    /// Runs `body` (a collective) with a wait armed around it.
    public func guarding<T>(_ what: String, step: Int, _ body: () throws -> T) rethrows -> T {
        guard setting != .off else { return try body() }
        let token = arm(what, step: step)
        defer { disarm(token) }
        return try body()
    }

    /// Records how long a whole step took, for the adaptive limit.
    public func stepTook(_ seconds: Double) {
        state.withLock { $0.slowestStep = max($0.slowestStep, seconds) }
    }

    /// The sentence for the oldest wait that has run out at `now`, or nil. Public for tests.
    public func expired(now: Double) -> String? {
        let limit = limitSeconds
        let oldest = state.withLock { $0.waits.values.min { $0.since < $1.since } }
        guard let oldest, now - oldest.since > limit else { return nil }
        let waited = Int((now - oldest.since).rounded())
        let setting = self.setting == .adaptive
            ? "the default --collective-timeout, \(Int(limit.rounded())) s: the larger of \(Int(Self.minimumSeconds)) s and \(Int(Self.slowestStepMultiple)) × the slowest step"
            : "--collective-timeout \(Self.format(limit))"
        return "dptrain: error on rank \(rank) (host \(host)): step \(oldest.step)'s \(oldest.what) made no progress for \(waited) s "
            + "(\(setting)); \(peers) — a stopped or hung process, or a broken network link; ending the job, "
            + "--resume continues from the last checkpoint."
    }

    private func check(now: Double) {
        // A gap far beyond the monitor's quarter second means this process itself was stopped
        // (SIGSTOP, a suspended machine): its own waits did not run out meanwhile, so move them on.
        state.withLock { state in
            if let last = state.lastCheck, now - last > Self.frozenGap {
                for (token, wait) in state.waits {
                    state.waits[token] = Wait(what: wait.what, step: wait.step, since: wait.since + (now - last))
                }
            }
            state.lastCheck = now
        }
        if let sentence = expired(now: now) { end(sentence) }
    }

    /// Seconds between two looks of the monitor thread that mean the process was frozen.
    static let frozenGap = 2.0

    static func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }
}
