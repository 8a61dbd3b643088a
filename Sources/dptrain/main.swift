// The dptrain executable. See README.md for how to run it and DESIGN.md for how it is built.
#if canImport(Glibc)
import Glibc
#endif

// First, before MPI or anything else: make OpenBLAS use the kernel this CPU supports.
OpenBLASKernel.reexecWithFastKernelIfNeeded()
DPTrain.mainReportingOnRankZero()
