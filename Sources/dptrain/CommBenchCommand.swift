import ArgumentParser
import DPComm
import Foundation

/// `dptrain comm-bench`: checks the all-reduce and measures its bandwidth, as nccl-tests and the OSU
/// benchmarks report it.
struct CommBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comm-bench",
        abstract: "Check the float all-reduce on every rank and measure its bandwidth.",
        discussion: """
            For each size from --min-bytes to --max-bytes (doubling), every rank contributes rank+1 in \
            every element and checks that each element of the sum is W(W+1)/2; a wrong element stops \
            the run with an error naming the rank and size. Then it times --iterations in-place \
            all-reduces (after --warmup untimed ones); the time is the slowest rank's mean. \
            Algorithm bandwidth is bytes / time; bus bandwidth is algorithm bandwidth × 2(W−1)/W, \
            the traffic of each link in a ring all-reduce, comparable across world sizes.
            """)

    @Option(help: "The smallest message in bytes.") var minBytes = 4096
    @Option(help: "The largest message in bytes.") var maxBytes = 64 << 20
    @Option(help: "Timed all-reduces per size.") var iterations = 20
    @Option(help: "Untimed all-reduces per size before timing.") var warmup = 3
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard minBytes >= 4, minBytes % 4 == 0 else {
            throw ValidationError("--min-bytes must be a positive multiple of 4 (one float), not \(minBytes).")
        }
        guard maxBytes >= minBytes, maxBytes <= 1 << 30 else {
            throw ValidationError("--max-bytes must be between --min-bytes (\(minBytes)) and 1 GiB, not \(maxBytes).")
        }
        guard iterations >= 1, warmup >= 0 else {
            throw ValidationError("--iterations must be at least 1 and --warmup at least 0.")
        }
    }

    func run() throws {
        Session.run(runtime) { session in
            let comm = session.comm
            let W = comm.size
            session.say("dptrain comm-bench: \(W) rank\(W == 1 ? "" : "s"), float32 in-place all-reduce, \(comm.libraryVersion)")
            session.say(columns(["bytes", "floats", "time (us)", "alg GB/s", "bus GB/s", "check"]))
            var buffer = [Float](repeating: 0, count: maxBytes / 4)
            var bytes = minBytes
            while bytes <= maxBytes {
                let count = bytes / 4
                try buffer.withUnsafeMutableBufferPointer { all in
                    let data = UnsafeMutableBufferPointer(rebasing: all[0..<count])
                    try comm.collectively { try checkSum(data, comm: comm, bytes: bytes) }
                    for _ in 0..<warmup { try comm.allReduceSum(data) }
                    try comm.barrier()
                    let start = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<iterations { try comm.allReduceSum(data) }
                    let mine = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(iterations)
                    let seconds = try comm.max(mine)
                    let algorithm = Double(bytes) / seconds / 1e9
                    let bus = algorithm * 2 * Double(W - 1) / Double(W)
                    session.say(columns([
                        String(bytes), String(count), String(format: "%.1f", seconds * 1e6),
                        String(format: "%.2f", algorithm), String(format: "%.2f", bus), "ok",
                    ]))
                }
                bytes *= 2
            }
        }
    }

    /// One row of the table, each cell right-aligned in its column.
    private func columns(_ cells: [String]) -> String {
        zip(cells, [12, 11, 11, 10, 10, 6]).map { cell, width in
            String(repeating: " ", count: max(0, width - cell.count)) + cell
        }.joined(separator: " ")
    }

    /// Fills `data` with rank+1, sums it across ranks, and checks every element.
    private func checkSum(_ data: UnsafeMutableBufferPointer<Float>, comm: any Communicator, bytes: Int) throws {
        data.update(repeating: Float(comm.rank + 1))
        try comm.allReduceSum(data)
        let expected = Float(comm.size * (comm.size + 1) / 2)
        if let bad = data.firstIndex(where: { $0 != expected }) {
            throw CommBenchFailure(
                "rank \(comm.rank) of \(comm.size): element \(bad) of the \(bytes)-byte all-reduce is \(data[bad]), expected \(expected)")
        }
    }
}

struct CommBenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
