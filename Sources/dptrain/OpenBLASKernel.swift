#if canImport(Glibc)
import Glibc
#endif

/// Makes OpenBLAS run the kernel this CPU supports.
///
/// Debian 12's OpenBLAS 0.3.21 misdetects recent AVX-512 Xeons as "Prescott" and runs its SSE3
/// sgemm, about 5× slower than its "SkylakeX" kernel on the same CPU. OpenBLAS reads
/// OPENBLAS_CORETYPE only while the library loads, before `main`, so setting it from a running
/// process is too late: when the variable is unset and the CPU has AVX-512 (or AVX2), dptrain sets
/// it and re-executes itself once, before MPI is initialized, so `mpirun -n 4 dptrain` gets the fast
/// kernel too. A user's own OPENBLAS_CORETYPE always wins.
enum OpenBLASKernel {
    /// Set alongside OPENBLAS_CORETYPE when dptrain chose the kernel, so `info` can say so.
    static let markerVariable = "DPTRAIN_CHOSE_OPENBLAS_CORETYPE"

    /// The OpenBLAS core type this CPU supports, from /proc/cpuinfo's flags, or nil if unknown.
    static func supportedCoreType(cpuFlags: Set<Substring>) -> String? {
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(cpuFlags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(cpuFlags.contains) { return "Haswell" }
        return nil
    }

    /// Re-executes this process with OPENBLAS_CORETYPE set, if it is unset and the CPU supports a
    /// better kernel than OpenBLAS may detect. Returns normally when there is nothing to do or the
    /// exec failed (then the slow kernel is reported by `dptrain info` and a warning).
    static func reexecWithFastKernelIfNeeded() {
        guard getenv("OPENBLAS_CORETYPE") == nil,
              let coreType = supportedCoreType(cpuFlags: cpuFlags())
        else { return }
        setenv("OPENBLAS_CORETYPE", coreType, 1)
        setenv(markerVariable, "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returns only on failure: go on with the kernel OpenBLAS picked.
    }

    /// The flags of the first processor in /proc/cpuinfo (empty where there is no such file).
    static func cpuFlags() -> Set<Substring> {
        guard let file = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            if text.hasPrefix("flags") {
                guard let colon = text.firstIndex(of: ":") else { return [] }
                return Set(text[text.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" }))
            }
        }
        return []
    }
}
