@testable import DPComm
import Testing

/// dptrain's OpenMPI parameter defaults: set only where the user set nothing.
struct MCADefaultsTests {
    let noFiles: (String) -> String? = { _ in nil }

    @Test func withNothingSetEveryDefaultApplies() {
        let applied = MCADefaults.unset(environment: { $0 == "HOME" ? "/home/u" : nil }, readFile: noFiles)
        #expect(applied == MCADefaults.settings)
        #expect(applied.map(\.name) == ["btl_tcp_flags"])
        #expect(applied.first?.value == "send,inplace,need-ack,need-csum")
    }

    @Test func aValueInTheEnvironmentWins() {
        // mpirun --mca btl_tcp_flags V reaches a rank as OMPI_MCA_btl_tcp_flags=V.
        let environment = ["OMPI_MCA_btl_tcp_flags": "send,put"]
        #expect(MCADefaults.unset(environment: { environment[$0] }, readFile: noFiles).isEmpty)
    }

    @Test func aParameterFileThatNamesItWins() {
        let files = [
            "/home/u/.openmpi/mca-params.conf": "# tuned for our fabric\n  btl_tcp_flags =  send,put,inplace \n",
            "/etc/openmpi/openmpi-mca-params.conf": "btl_tcp_if_include = eth0\n",
        ]
        let environment = ["HOME": "/home/u"]
        #expect(MCADefaults.unset(environment: { environment[$0] }, readFile: { files[$0] }).isEmpty)
        // The system file alone, naming something else, or the name only in a comment: applies.
        let commented = ["/etc/openmpi/openmpi-mca-params.conf": "# btl_tcp_flags = send\nbtl_tcp_if_include = eth0\n"]
        #expect(MCADefaults.unset(environment: { environment[$0] }, readFile: { commented[$0] }).count == 1)
    }

    @Test func theParameterFilesOfTheEnvironmentReplaceTheDefaultOnes() {
        let environment = ["HOME": "/home/u", "OMPI_MCA_mca_base_param_files": "/a.conf:/b.conf"]
        #expect(MCADefaults.parameterFiles(environment: { environment[$0] }) == ["/a.conf", "/b.conf"])
        #expect(MCADefaults.parameterFiles(environment: { ["HOME": "/h"][$0] }) == ["/h/.openmpi/mca-params.conf", "/etc/openmpi/openmpi-mca-params.conf"])
        let files = ["/b.conf": "btl_tcp_flags=send\n", "/h/.openmpi/mca-params.conf": "btl_tcp_flags=send\n"]
        #expect(MCADefaults.unset(environment: { environment[$0] }, readFile: { files[$0] }).isEmpty)
    }

    @Test func parameterNamesIgnoreCommentsAndBlankLines() {
        let text = "\n# a comment = x\nbtl = tcp,self # trailing\n   \nmpi_yield_when_idle=1\nno equals sign\n"
        #expect(MCADefaults.parameterNames(in: text) == ["btl", "mpi_yield_when_idle"])
    }
}
