import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one-writer lock of an output directory: flock(2) on OUT/.lock, held for as long as this
/// object (in practice the process) lives. The kernel releases it when the process ends in any
/// way — exit, crash, SIGKILL — so no crash leaves a stale lock. The file itself stays and holds
/// the last holder's "pid P on host H since T" line, read only when someone holds the lock.
///
/// A training run takes it on rank 0 before writing anything into OUT; a second run on the same
/// OUT is refused while the first lives. Readers (inspect, eval, sample, plot) never take it:
/// checkpoints are published by rename and pruned by rename, so a reader never sees a half-written
/// or half-deleted one.
public final class OutputLock: @unchecked Sendable {
    public static let fileName = ".lock"
    /// OUT/.lock.
    public let url: URL
    private let descriptor: Int32

    /// Takes the lock on `out` (an existing directory) or throws.
    ///
    /// - Throws: `ConfigError`, one sentence: OUT is in use by another run (naming its pid, host and
    ///   start time), or the lock file cannot be opened or locked (naming the call and errno).
    public init(out: URL, hostname: String) throws {
        url = out.appendingPathComponent(Self.fileName)
        let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ConfigError("--out \(out.path) cannot be locked: open \(url.path): \(String(cString: strerror(errno))).")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            defer { close(fd) }
            if code == EWOULDBLOCK {
                let holder = Self.holder(fd)
                throw ConfigError("--out \(out.path) is in use by another dptrain run\(holder.map { " (\($0))" } ?? ""); "
                                  + "wait for it to end or stop it, or choose another --out.")
            }
            throw ConfigError("--out \(out.path) cannot be locked: flock \(url.path): \(String(cString: strerror(code))).")
        }
        descriptor = fd
        let line = "pid \(getpid()) on host \(hostname) since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = line.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit {
        close(descriptor)   // releases the lock
    }

    /// The holder's line, without its newline; nil when it is empty (its holder has not written it yet).
    private static func holder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}
