@testable import DPComm
import Testing

struct SoloCommunicatorTests {
    @Test func collectivesAreIdentities() throws {
        let comm = SoloCommunicator()
        #expect(comm.rank == 0 && comm.size == 1 && comm.localRank == 0 && comm.localSize == 1)
        var values: [Float] = [1, -2, 3.5]
        try values.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
        #expect(values == [1, -2, 3.5])
        try values.withUnsafeMutableBufferPointer { try comm.allReduce($0, .max) }
        #expect(values == [1, -2, 3.5])
        try values.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
        #expect(values == [1, -2, 3.5])
        #expect(try comm.sum(Int64(7)) == 7)
        #expect(try comm.max(2.5) == 2.5)
        #expect(try comm.broadcast(string: "hello", root: 0) == "hello")
        #expect(try comm.allGather(string: "world") == ["world"])
        try values.withUnsafeMutableBufferPointer { pointer in
            let request = try comm.startAllReduceSum(pointer)
            #expect(try request.test())
            try request.wait()
        }
        try comm.barrier()
        #expect(!comm.hostname.isEmpty)
    }

    @Test func broadcastFromAnotherRootThrows() {
        var values: [Double] = [1]
        #expect(throws: MPIError.self) {
            try values.withUnsafeMutableBufferPointer { try SoloCommunicator().broadcast($0, root: 1) }
        }
    }

    @Test func collectivelyRethrowsAsRankFailure() throws {
        let comm = SoloCommunicator()
        #expect(try comm.collectively { 41 + 1 } == 42)
        do {
            _ = try comm.collectively { () throws -> Int in throw MPIError(call: "x", message: "broken") }
            Issue.record("expected a RankFailure")
        } catch let failure as RankFailure {
            #expect(failure.rank == 0 && failure.message == "x failed: broken")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: [
        ([:], false),
        (["OMPI_COMM_WORLD_SIZE": "4"], true),
        (["PMIX_RANK": "0"], true),
        (["PMI_SIZE": "2"], true),
    ] as [([String: String], Bool)])
    func launcherDetection(environment: [String: String], expected: Bool) throws {
        #expect(Launcher.startedByMPI(environment: environment) == expected)
        // --single-process always wins, and a solo communicator never touches MPI.
        let comm = try Launcher.communicator(singleProcess: true, environment: environment)
        #expect(comm is SoloCommunicator)
    }
}
