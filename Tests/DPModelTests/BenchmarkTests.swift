import COpenBLAS
import Foundation
import Testing
@testable import DPModel

/// Not a check: the time per step of nanoGPT's CPU configuration (4 layers, 4 heads, dim 128,
/// context 64, batch 12, vocab 65) on one core, median of 50 steps. Runs only when asked:
///
///     OPENBLAS_CORETYPE=SkylakeX DPMODEL_BENCH=1 swift test -c release --filter benchmarkNanoGPTCPU
@Test(.enabled(if: ProcessInfo.processInfo.environment["DPMODEL_BENCH"] != nil))
func benchmarkNanoGPTCPU() throws {
    openblas_set_num_threads(1)
    let config = ModelConfig.gpt(vocabSize: 65, context: 64, dim: 128, heads: 4, layers: 4)
    let steps = Int(ProcessInfo.processInfo.environment["DPMODEL_BENCH_STEPS"] ?? "") ?? 50
    let timings = try Model.benchmark(config: config, batch: 12, steps: steps)
    let wall = timings.map(\.wallSeconds).sorted(), cpu = timings.map(\.threadCPUSeconds).sorted()
    print(String(format: "nanoGPT CPU config, %d steps: median %.2f ms/step wall (min %.2f), %.2f ms thread CPU (min %.2f), core %@",
                 steps, wall[steps / 2] * 1e3, wall[0] * 1e3, cpu[steps / 2] * 1e3, cpu[0] * 1e3,
                 String(cString: openblas_get_corename())))
    #expect(timings.count == steps)
}
