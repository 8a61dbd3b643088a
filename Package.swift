// swift-tools-version:6.0
// dptrain: a data-parallel transformer trainer in Swift over MPI. See README.md and DESIGN.md.
import PackageDescription

/// Hot numerical code is built with -Ounchecked in release: the kernels index raw pointers in
/// tight loops, and the bounds checks that remain cost measurable time (see issue 6 benchmarks).
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "dptrain",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dptrain", targets: ["dptrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // System libraries: OpenMPI's C API and OpenBLAS's cblas (apt: libopenmpi-dev, libopenblas-dev).
        .systemLibrary(
            name: "CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),

        // The Swift MPI wrapper: Communicator, MPICommunicator, SoloCommunicator.
        .target(name: "DPComm", dependencies: ["CMPI"]),
        // The few helpers every layer shares: the random generator, the exact elementary functions,
        // the one way to quote a user's text in a message.
        .target(name: "DPBase", swiftSettings: kernelSettings),
        // Kernels, parameter layout, the model, optimizers. Knows nothing of MPI or files.
        .target(name: "DPModel", dependencies: ["DPBase", "COpenBLAS"], swiftSettings: kernelSettings),
        // Tokenizers, token files, samplers, the built-in corpus.
        .target(name: "DPData", dependencies: ["DPBase"], swiftSettings: kernelSettings),
        // The training loop, checkpoints, metrics.
        .target(
            name: "DPTrainer",
            dependencies: [
                "DPBase", "DPComm", "DPModel", "DPData", "COpenBLAS",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]),
        // The command-line tool.
        .executableTarget(
            name: "dptrain",
            dependencies: [
                "DPBase", "DPComm", "DPModel", "DPData", "DPTrainer", "COpenBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // A small MPI program that the MPI tests launch under mpirun; it prints one result line per check.
        .executableTarget(name: "mpi-probe", dependencies: ["DPComm"]),

        // Launching built products (alone or under mpirun) from the tests.
        .target(name: "DPTestSupport", dependencies: ["DPTrainer"], path: "Tests/DPTestSupport"),
        .testTarget(name: "DPCommTests", dependencies: ["DPComm", "DPTestSupport"]),
        .testTarget(name: "DPBaseTests", dependencies: ["DPBase"]),
        .testTarget(name: "DPModelTests", dependencies: ["DPBase", "DPModel"]),
        .testTarget(name: "DPDataTests", dependencies: ["DPData"]),
        // End to end: the dptrain executable alone and under mpirun.
        .testTarget(name: "CLITests", dependencies: ["DPTestSupport", "DPTrainer", "DPData", "dptrain"]),
        .testTarget(name: "DPTrainerTests", dependencies: ["DPTrainer", "DPModel", "DPData", "DPComm", "DPTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
