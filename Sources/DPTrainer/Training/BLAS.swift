import COpenBLAS
import Foundation

/// The process's BLAS library (OpenBLAS): thread count, the kernel it chose, and a measured peak.
public enum BLAS {
    /// The number of threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// The CPU kernel OpenBLAS runs, e.g. "SkylakeX" or "Prescott".
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name).trimmingCharacters(in: .whitespaces)
    }

    /// OpenBLAS's build configuration string (version, threading, core).
    public static var config: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text).trimmingCharacters(in: .whitespaces)
    }

    /// The sgemm rate of this rank in GFLOP/s with its current thread count: the median of a few
    /// timed 512×768×768 products, a shape like the large matmuls of a small GPT step. This is the
    /// roof that MFU is measured against.
    public static func measurePeakGFLOPS(repeats: Int = 9) -> Double {
        let (m, n, k) = (512, 768, 768)
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        var seconds: [Double] = []
        for attempt in 0..<(repeats + 2) {
            let start = DispatchTime.now().uptimeNanoseconds
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                        1, a, Int32(k), b, Int32(n), 0, &c, Int32(n))
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if attempt >= 2 { seconds.append(elapsed) }  // the first calls warm caches and threads
        }
        seconds.sort()
        return 2.0 * Double(m * n * k) / seconds[seconds.count / 2] / 1e9
    }
}
