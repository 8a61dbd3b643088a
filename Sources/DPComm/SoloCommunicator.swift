#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rank 0 of a job of one: every collective is the identity and no MPI call is ever made, so the
/// single-process debug mode runs without mpirun or an MPI runtime.
public final class SoloCommunicator: Communicator {
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localRank: Int { 0 }
    public var localSize: Int { 1 }
    public var libraryVersion: String { "none (single process)" }

    public var hostname: String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "localhost" }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func allReduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOp) throws {}

    public func startAllReduceSum<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>) throws -> CommRequest {
        CompletedRequest()
    }

    public func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        guard root == 0 else { throw MPIError(call: "broadcast", message: "root \(root) is not a rank of a single-process job") }
    }

    public func allGather<T: CommScalar>(_ local: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>) throws {
        precondition(result.count == local.count, "allGather: the result must hold size × count elements")
        _ = result.initialize(fromContentsOf: local)
    }

    public func reduceScatterSum<T: CommScalar>(
        _ buffer: UnsafeBufferPointer<T>, into shard: UnsafeMutableBufferPointer<T>, counts: [Int]
    ) throws {
        guard counts == [buffer.count], shard.count == buffer.count else {
            throw MPIError(call: "reduceScatterSum", message: "counts \(counts) do not partition \(buffer.count) elements over 1 rank")
        }
        _ = shard.initialize(fromContentsOf: buffer)
    }

    public func allGather<T: CommScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, counts: [Int]) throws {
        guard counts == [buffer.count] else {
            throw MPIError(call: "allGather", message: "counts \(counts) do not partition \(buffer.count) elements over 1 rank")
        }
    }

    public func barrier() throws {}

    public func makeExchangeChannel() throws -> any ExchangeChannel { SoloExchangeChannel() }

    public func makeHostChannels(enabled: Bool) throws -> HostChannels? { nil }

    public func abort(code: Int32, message: String) -> Never {
        writeToStandardError(message)
        exit(code)
    }
}

/// The channel of a job of one: there is no other rank to send to.
final class SoloExchangeChannel: ExchangeChannel {
    var rank: Int { 0 }
    var size: Int { 1 }
    func exchange<T: CommScalar>(
        send: UnsafeBufferPointer<T>, to: Int, receive: UnsafeMutableBufferPointer<T>, from: Int
    ) throws {
        throw MPIError(call: "exchange", message: "a single-process job has no rank \(to) to send to")
    }
}

/// The request of an operation that completed when it was started.
final class CompletedRequest: CommRequest {
    func wait() throws {}
    func test() throws -> Bool { true }
}

/// Writes `message` and a newline to standard error, unbuffered; nothing when empty.
func writeToStandardError(_ message: String) {
    guard !message.isEmpty else { return }
    let line = message.hasSuffix("\n") ? message : message + "\n"
    var bytes = Array(line.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}
