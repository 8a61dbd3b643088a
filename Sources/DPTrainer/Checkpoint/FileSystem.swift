import DPBase
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few POSIX calls that durable writes need, each turning a failure into a thrown
/// `CheckpointError` (.io) that names the call, the path and errno's text.
enum FileSystem {
    /// Creates or truncates `url`, writes all of `data`, fsyncs and closes it.
    static func writeDurably(_ data: Data, to url: URL) throws {
        let path = url.path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("open", path) }
        var closed = false
        defer { if !closed { _ = close(fd) } }
        if let code = data.withUnsafeBytes({ writeAll(fd, $0) }) {
            errno = code
            throw failure("write", path)
        }
        guard fsync(fd) == 0 else { throw failure("fsync", path) }
        closed = true
        guard close(fd) == 0 else { throw failure("close", path) }
    }

    /// Fsyncs a directory, making the creations, renames and deletions inside it durable.
    static func syncDirectory(_ url: URL) throws {
        let path = url.path
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", path) }
        defer { _ = close(fd) }
        guard fsync(fd) == 0 else { throw failure("fsync", path) }
    }

    /// rename(2): atomically replaces `destination` (a file, or an empty directory) by `source`.
    static func rename(_ source: URL, to destination: URL) throws {
        guard Foundation.rename(source.path, destination.path) == 0 else {
            throw failure("rename to \(destination.lastPathComponent)", source.path)
        }
    }

    /// Atomically swaps two existing paths (Linux renameat2 RENAME_EXCHANGE). Returns false when
    /// the system or file system does not offer it; throws on any other failure.
    static func exchange(_ a: URL, _ b: URL) throws -> Bool {
        #if os(Linux)
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        guard let symbol = renameat2Symbol else { return false }
        let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
        let renameExchange: UInt32 = 1 << 1
        if renameat2(AT_FDCWD, a.path, AT_FDCWD, b.path, renameExchange) == 0 { return true }
        if errno == EINVAL || errno == ENOSYS { return false }
        throw failure("renameat2 exchange with \(b.lastPathComponent)", a.path)
        #else
        return false
        #endif
    }

    #if os(Linux)
    /// glibc ≥ 2.28 has renameat2, but Swift's Glibc module does not export it.
    nonisolated(unsafe) private static let renameat2Symbol: UnsafeMutableRawPointer? = dlsym(dlopen(nil, RTLD_NOW), "renameat2")
    #endif

    static func failure(_ call: String, _ path: String) -> CheckpointError {
        let code = errno
        return CheckpointError(.io, path: path, "could not be written: \(call) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}
