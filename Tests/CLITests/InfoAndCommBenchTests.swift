import DPTestSupport
import Foundation
import Testing

/// `dptrain info` and `dptrain comm-bench`, run as a user runs them.
@Suite(.serialized) struct InfoAndCommBenchTests {
    @Test func infoWithoutMPIRunReportsOneRankAndNoMPI() throws {
        let result = try Run.process(Run.product("dptrain"), ["info"], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("world size             1 rank (single process, no MPI)"), "\(result.stdout)")
        #expect(result.stdout.contains("MPI library            none (single process)"))
    }

    @Test func infoUnderMPIRunReportsFourRanksAndTheFastKernel() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        // Without OPENBLAS_CORETYPE, as a user would start it: dptrain must choose the kernel itself.
        let result = try Run.mpirun(4, Run.product("dptrain"), ["info"], environment: [:], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("world size             4 ranks"), "\(result.stdout)")
        #expect(result.stdout.components(separatedBy: "dptrain info").count == 2, "only rank 0 prints")
        #expect(result.stdout.contains("4 ranks (0,1,2,3)"))
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        if flags.contains(" avx512f ") && flags.contains(" avx512bw ") && flags.contains(" avx512vl ") && flags.contains(" avx512dq ") {
            #expect(result.stdout.contains("OpenBLAS kernel        SkylakeX"), "\(result.stdout)")
        }
        #expect(!result.stdout.contains("Prescott (") && !result.stderr.contains("Prescott kernel"))
    }

    @Test func infoNamesDptrainsOpenMPIDefaultsAndAUsersValueReplacesThem() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let result = try Run.mpirun(2, Run.product("dptrain"), ["info"], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("MCA btl_tcp_flags      send,inplace,need-ack,need-csum (dptrain's default"), "\(result.stdout)")
        // mpirun --mca btl_tcp_flags V is OMPI_MCA_btl_tcp_flags=V in every rank's environment.
        let own = try Run.mpirun(2, Run.product("dptrain"), ["info"], environment: ["OMPI_MCA_btl_tcp_flags": "send,inplace"], timeout: 60)
        #expect(own.status == 0, "\(own.stderr)")
        #expect(own.stdout.contains("world size             2 ranks"), "\(own.stdout)")
        #expect(!own.stdout.contains("MCA btl_tcp_flags"), "\(own.stdout)")
    }

    @Test func aUsersOwnCoreTypeWins() throws {
        let result = try Run.process(
            Run.product("dptrain"), ["info"], environment: ["OPENBLAS_CORETYPE": "Haswell"],
            removing: ["DPTRAIN_CHOSE_OPENBLAS_CORETYPE"], timeout: 60)
        #expect(result.status == 0)
        #expect(result.stdout.contains("OPENBLAS_CORETYPE=Haswell, set by the user"), "\(result.stdout)")
    }

    @Test func commBenchChecksAndReportsBandwidthOnTwoRanks() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let result = try Run.mpirun(
            2, Run.product("dptrain"), ["comm-bench", "--max-bytes", "65536", "--iterations", "3"], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.lines.filter { $0.hasSuffix(" ok") }
        #expect(rows.count == 5, "4 KiB to 64 KiB: \(result.stdout)")
        for row in rows {
            let cells = row.split(separator: " ")
            #expect(cells.count == 6)
            #expect((Double(cells[2]) ?? 0) > 0, "time in \(row)")
            #expect(Double(cells[3]) != nil, "alg GB/s in \(row)")
            #expect(Double(cells[4]) == Double(cells[3]), "bus = alg·2(W−1)/W = alg for W=2: \(row)")
        }
    }

    @Test func badOptionsGiveOneSentenceFromRankZeroAndNonZeroExit() throws {
        try #require(Run.hasMPIRun, "mpirun is not installed; scripts/test.sh installs it")
        let result = try Run.mpirun(2, Run.product("dptrain"), ["comm-bench", "--min-bytes", "3"], timeout: 30)
        #expect(!result.timedOut)
        #expect(result.status != 0)
        let errors = result.stderr.split(separator: "\n").filter { $0.contains("--min-bytes must be") }
        #expect(errors.count == 1, "\(result.stderr)")
    }
}
