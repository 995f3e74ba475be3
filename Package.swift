// swift-tools-version:6.0
// MultiModelOptimizer in Swift. Layers (imports point down only), see README.md:
//   executables → MMOTraining → MMOAnalysis → MMORun → (MMOOptim, MMOModels, MMOData, MMOFormat)
//   → MMOCore → C shims. MMORun is a run on disk (config, checkpoint state and files, run folder,
//   metrics, data); MMOAnalysis reads checkpoints (inspect, diff, merge, eval, export), no printing;
//   MMOReport (above MMOAnalysis) builds the HTML page of a run.
import Foundation
import PackageDescription

/// The checkpoint tools: each a thin executable over MMOAnalysis (Sources/<tool>/main.swift).
let checkpointTools = ["mmo-inspect", "mmo-diff", "mmo-merge", "mmo-eval", "mmo-export"]

/// The element-wise kernels (GELU, LayerNorm, softmax, dropout and its Philox stream, the fused
/// optimizer pass) are written with SIMD types and vectorise to the width the compiler may use.
/// Swift builds for baseline x86-64 (SSE2, 4 lanes) unless told a CPU; on a build machine with
/// AVX2 the three targets that hold those kernels are compiled for `haswell` (AVX2, 8 lanes).
/// The results are the same bits: Swift emits separate multiplies and adds (LLVM does not
/// contract them into FMA without fast-math flags, so `haswell`'s FMA is unused), and no loop is
/// reassociated; a test compares a run's checkpoint with the baseline build's
/// (fixtures/golden/demo-12-steps.sha256). The binary then needs an AVX2 CPU: to build one for
/// any x86-64 machine, set `MMO_TARGET_CPU=x86-64` (or any `-target-cpu` value) when building.
let kernelTargetCPU: String? = {
    if let chosen = Context.environment["MMO_TARGET_CPU"] { return chosen.isEmpty ? nil : chosen }
    #if arch(x86_64) && os(Linux)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        return flags.split(separator: " ").contains("avx2") ? "haswell" : nil
    #else
        return nil
    #endif
}()
let kernelSettings: [SwiftSetting] = kernelTargetCPU.map { [.unsafeFlags(["-target-cpu", $0])] } ?? []

let package = Package(
    name: "MultiModelOptimizer",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "MMOCore", targets: ["MMOCore"]),
        .library(name: "MMOFormat", targets: ["MMOFormat"]),
        .library(name: "MMOModels", targets: ["MMOModels"]),
        .library(name: "MMOOptim", targets: ["MMOOptim"]),
        .library(name: "MMOData", targets: ["MMOData"]),
        .library(name: "MMORun", targets: ["MMORun"]),
        .library(name: "MMOAnalysis", targets: ["MMOAnalysis"]),
        .library(name: "MMOTraining", targets: ["MMOTraining"]),
        .executable(name: "mmo-train", targets: ["mmo-train"]),
        .executable(name: "mmo-bench", targets: ["mmo-bench"]),
        .executable(name: "mmo-report", targets: ["mmo-report"]),
        .executable(name: "mmo-experiment", targets: ["mmo-experiment"]),
    ] + checkpointTools.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/JohnSundell/Plot", from: "0.14.0"),
    ],
    targets: [
        // MARK: - C shims (system libraries through pkg-config; `tools/setup` installs them)
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        .systemLibrary(
            name: "CXXHash", pkgConfig: "libxxhash",
            providers: [.apt(["libxxhash-dev"]), .brew(["xxhash"])]),

        // MARK: - Libraries
        .target(name: "MMOCore", dependencies: ["COpenBLAS"], swiftSettings: kernelSettings),
        .target(name: "MMOFormat", dependencies: ["CZstd", "CXXHash"]),
        .target(name: "MMOData", dependencies: ["MMOCore", "SwiftCSV"]),
        .target(name: "MMOModels", dependencies: ["MMOCore"], swiftSettings: kernelSettings),
        .target(name: "MMOOptim", dependencies: ["MMOCore"], swiftSettings: kernelSettings),
        .target(
            name: "MMORun",
            dependencies: [
                "MMOCore", "MMOFormat", "MMOData", "MMOModels", "MMOOptim",
                .product(name: "Yams", package: "Yams"),
            ]),
        .target(
            name: "MMOAnalysis",
            dependencies: ["MMOCore", "MMOFormat", "MMOData", "MMOModels", "MMOOptim", "MMORun"]),
        // The run report as data (charts, tables) and as one HTML file (Plot for the structure).
        .target(name: "MMOReport", dependencies: ["MMOCore", "MMOModels", "MMOOptim", "MMORun", "MMOAnalysis", .product(name: "Plot", package: "Plot")]),
        .target(
            name: "MMOTraining",
            dependencies: ["MMOCore", "MMOFormat", "MMOData", "MMOModels", "MMOOptim", "MMORun", "MMOAnalysis"]),
        // Experiments as configuration: variants × seeds of a run config, as child mmo-train runs.
        .target(name: "MMOExperiment", dependencies: ["MMORun", "MMOAnalysis", .product(name: "Yams", package: "Yams")]),

        // MARK: - Executables (thin: parse, validate, call one library entry point, print)
        .executableTarget(
            name: "mmo-train",
            dependencies: [
                "MMOTraining", "MMORun", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "mmo-bench", dependencies: ["MMOBench"]),
        // The benchmarks (subcommands of mmo-bench), a library so that the executable stays thin.
        .target(
            name: "MMOBench",
            dependencies: [
                "MMOCore", "MMOFormat", "MMOModels", "MMOOptim", "MMORun", "MMOTraining", "MMOToolSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The checkpoint tools: parse, call MMOAnalysis, print (MMOToolSupport: exit codes, progress).
        .target(
            name: "MMOToolSupport",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ] + checkpointTools.map { tool in
        .executableTarget(
            name: tool,
            dependencies: [
                "MMOAnalysis", "MMORun", "MMOFormat", "MMOModels", "MMOOptim", "MMOToolSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ])
    } + [
        .executableTarget(
            name: "mmo-report",
            dependencies: ["MMOReport", "MMOOptim", "MMOToolSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "mmo-experiment",
            dependencies: ["MMOExperiment", "MMOTraining", "MMOToolSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // MARK: - Tests
        .testTarget(name: "MMOCoreTests", dependencies: ["MMOCore"]),
        .testTarget(name: "MMOFormatTests", dependencies: ["MMOFormat", "mmo-format-testwriter"]),
        // Child process of the format's crash-safety test, and writer of fixtures/golden.
        .executableTarget(
            name: "mmo-format-testwriter", dependencies: ["MMOFormat"], path: "Tests/MMOFormatTestWriter"),
        .testTarget(name: "MMODataTests", dependencies: ["MMOData"]),
        // Test support: counts heap allocations so a test can prove a step allocates nothing.
        .target(name: "CMallocCounter", path: "Tests/CMallocCounter"),
        .testTarget(name: "MMOModelsTests", dependencies: ["MMOModels", "MMOFormat", "CMallocCounter"]),
        .testTarget(name: "MMOOptimTests", dependencies: ["MMOOptim", "MMOFormat", "CMallocCounter"]),
        // mmo-train: the CLI, kill and signal tests run the built executable as a child process.
        .testTarget(
            name: "MMOTrainingTests", dependencies: ["MMOTraining", "MMORun", "MMOAnalysis", "MMOFormat", "MMOData", "mmo-train"]),
        // Test support: running the package's executables as child processes.
        .target(name: "MMOTestSupport", path: "Tests/MMOTestSupport"),
        // The checkpoint tools, as libraries and as executables run on checkpoints of tiny runs.
        .testTarget(
            name: "MMOAnalysisTests",
            dependencies: [
                "MMOAnalysis", "MMORun", "MMOTraining", "MMOFormat", "MMOModels", "MMOOptim", "MMOData", "MMOTestSupport",
            ] + checkpointTools.map { .target(name: $0) }),
        .testTarget(name: "MMOExperimentTests", dependencies: ["MMOExperiment", "MMORun", "MMOTestSupport", "mmo-experiment", "mmo-train", "mmo-report", "mmo-eval"]),
        .testTarget(name: "MMOReportTests", dependencies: ["MMOReport", "MMORun", "MMOTraining", "MMOOptim", "MMOTestSupport", "mmo-report"]),
    ],
    swiftLanguageModes: [.v5]
)
