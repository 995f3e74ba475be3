// swift-tools-version:6.0
// MultiModelOptimizer in Swift. Layers (imports point down only), see README.md:
//   executables → MMOTraining → (MMOOptim, MMOModels, MMOData, MMOFormat) → MMOCore → C shims
import PackageDescription

let package = Package(
    name: "MultiModelOptimizer",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "MMOCore", targets: ["MMOCore"]),
        .library(name: "MMOFormat", targets: ["MMOFormat"]),
        .library(name: "MMOModels", targets: ["MMOModels"]),
        .library(name: "MMOOptim", targets: ["MMOOptim"]),
        .library(name: "MMOData", targets: ["MMOData"]),
        .library(name: "MMOTraining", targets: ["MMOTraining"]),
        .executable(name: "mmo-train", targets: ["mmo-train"]),
        .executable(name: "mmo-bench", targets: ["mmo-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
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
        .target(name: "MMOCore", dependencies: ["COpenBLAS"]),
        .target(name: "MMOFormat", dependencies: ["CZstd", "CXXHash"]),
        .target(name: "MMOData", dependencies: ["MMOCore", "SwiftCSV"]),
        .target(name: "MMOModels", dependencies: ["MMOCore"]),
        .target(name: "MMOOptim", dependencies: ["MMOCore"]),
        .target(
            name: "MMOTraining",
            dependencies: [
                "MMOCore", "MMOFormat", "MMOData", "MMOModels", "MMOOptim",
                .product(name: "Yams", package: "Yams"),
            ]),

        // MARK: - Executables (thin: parse, validate, call one library entry point, print)
        .executableTarget(
            name: "mmo-train",
            dependencies: [
                "MMOTraining", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "mmo-bench",
            dependencies: [
                "MMOCore", "MMOFormat", "MMOModels", "MMOOptim", "MMOTraining",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

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
        .testTarget(name: "MMOTrainingTests", dependencies: ["MMOTraining", "MMOFormat", "MMOData", "mmo-train"]),
    ],
    swiftLanguageModes: [.v5]
)
