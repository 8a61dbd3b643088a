import DPBase
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes scalars to a TensorBoard event file, OUT/tensorboard/events.out.tfevents.<unix seconds>.<host>
/// (DESIGN.md §5), as TensorFlow's own writer does: TFRecord-framed `Event` protocol buffers, the
/// first holding file_version "brain.Event:2", then one Event per `add` with a Summary of
/// simple_value scalars. `tensorboard --logdir OUT/tensorboard` shows them.
///
/// Each `add` is one `write(2)` of whole records, so TensorBoard sees every step as it is logged
/// and a crash loses at most the record being written; `flush` makes the file durable (fsync).
/// A resumed run opens a new file; TensorBoard then drops the old file's events at steps at or
/// past the first step of the new one ("orphaned data"), which matches metrics.jsonl being cut
/// back to the checkpoint's step. Used by rank 0 only; not thread-safe.
public final class TensorBoardWriter {
    /// The event file being written.
    public let url: URL
    private let fd: Int32

    /// Creates `directory` if needed and a new event file in it, and writes the file_version event.
    ///
    /// The name is events.out.tfevents.<unix seconds>.<hostname>; if a file of that name exists (a
    /// second writer in the same second), ".1", ".2", … is appended, which TensorBoard also reads.
    public init(directory: URL, hostname: String) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw TensorBoardError("cannot create the TensorBoard folder \(directory.path): \(error.localizedDescription)")
        }
        let now = Date().timeIntervalSince1970
        let host = hostname.isEmpty ? "localhost" : hostname.replacingOccurrences(of: "/", with: "_")
        let base = "events.out.tfevents.\(Int(now)).\(host)"
        var attempt = 0
        while true {
            let candidate = directory.appendingPathComponent(attempt == 0 ? base : "\(base).\(attempt)")
            let fd = open(candidate.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
            if fd >= 0 {
                url = candidate
                self.fd = fd
                break
            }
            guard errno == EEXIST, attempt < 1000 else {
                throw TensorBoardError("cannot create the TensorBoard event file \(candidate.path): \(String(cString: strerror(errno)))")
            }
            attempt += 1
        }
        try write(TFRecord.frame(EventProto.fileVersionEvent(wallTime: now)))
    }

    deinit {
        _ = close(fd)
    }

    /// Appends one event with these scalars at `step` (e.g. "train/loss", "train/lr").
    public func add(scalars: [(tag: String, value: Float)], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        try write(TFRecord.frame(EventProto.scalarEvent(scalars, step: step, wallTime: wallTime)))
    }

    /// Makes everything written so far durable on disk.
    public func flush() throws {
        guard fsync(fd) == 0 else { throw failure("fsync") }
    }

    private func write(_ bytes: [UInt8]) throws {
        if let code = bytes.withUnsafeBytes({ writeAll(fd, $0) }) {
            errno = code
            throw failure("write")
        }
    }

    private func failure(_ call: String) -> TensorBoardError {
        TensorBoardError("\(call) to the TensorBoard event file \(url.path) failed: \(String(cString: strerror(errno)))")
    }
}

