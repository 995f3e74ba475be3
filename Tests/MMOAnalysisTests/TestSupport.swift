// Shared helpers of the checkpoint-tool tests: checkpoints made by short tiny runs (made once
// per test process and reused read-only), temporary folders, and running a tool executable.
import Foundation
import MMOFormat
import MMORun
import MMOTraining
import MMOTestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The repository root (this file is `Tests/MMOAnalysisTests/TestSupport.swift`).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A fresh folder under the system temporary directory, removed by `addTeardownBlock`.
func temporaryFolder(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("mmo-analysis-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// The tiny run config of the fixtures (3 families, synthetic data) with `changes` applied.
func tinyConfig(_ changes: (inout RunConfig) -> Void = { _ in }) throws -> RunConfig {
    var config = try RunConfig.load(path: repositoryRoot.appendingPathComponent("fixtures/configs/tiny.yaml").path)
    changes(&config)
    return config
}

/// Runs (in-process) a tiny training run into `folder` and returns it.
@discardableResult
func trainTiny(into folder: URL, _ changes: (inout RunConfig) -> Void = { _ in }) throws -> URL {
    let trainer = try Trainer.start(config: try tinyConfig(changes), runDirectory: folder)
    _ = try trainer.run(progressMode: .quiet)
    return folder
}

/// Runs shared by the tests of this process, trained on first use and never modified: a tiny
/// run (12 steps, checkpoints every 2, the last 2 kept) and a second seed of it.
enum SharedRuns {
    private static let lock = NSLock()
    private static var folders: [String: URL] = [:]
    private static let root = FileManager.default.temporaryDirectory.appendingPathComponent("mmo-analysis-shared-\(getpid())")

    /// The run called `name`, trained with `changes` on first use.
    static func run(_ name: String, _ changes: (inout RunConfig) -> Void = { _ in }) throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let url = folders[name] { return url }
        let url = root.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: url)
        try trainTiny(into: url, changes)
        folders[name] = url
        return url
    }

    /// Seed 7 (the fixture's), 12 steps.
    static var tiny: URL { get throws { try run("tiny") } }
    /// The same with seed 8.
    static var tinySeed8: URL { get throws { try run("tiny-seed8") { $0.seed = 8 } } }
}


/// Parses a tool's `--json` output.
func jsonObject(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        XCTFail("not a JSON object: \(text.prefix(200))", file: file, line: line)
        return [:]
    }
    return object
}

/// A copy of `source` at `destination` with `edit` applied to its bytes.
func corruptedCopy(of source: URL, to destination: URL, _ edit: (inout Data) -> Void) throws -> URL {
    var data = try Data(contentsOf: source)
    edit(&data)
    try data.write(to: destination)
    return destination
}
