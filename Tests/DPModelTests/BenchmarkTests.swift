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
    let times = try Model.benchmark(config: config, batch: 12, steps: steps).sorted()
    let median = times[times.count / 2]
    print(String(format: "nanoGPT CPU config: median %.2f ms/step over %d steps (min %.2f, max %.2f), core %@",
                 median * 1e3, times.count, times.first! * 1e3, times.last! * 1e3,
                 String(cString: openblas_get_corename())))
    #expect(times.count == steps)
}
