// Shared helpers of the training tests: temporary folders, fixture configs, checkpoint
// comparison (every blob byte-exact, every state field), and running the `mmo-train` executable.
import Foundation
import MMOFormat
import XCTest

@testable import MMORun
@testable import MMOTraining

#if canImport(Glibc)
    import Glibc
#endif

/// The repository root (this file is `Tests/MMOTrainingTests/TestSupport.swift`).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// `fixtures/configs/<name>.yaml`.
func fixtureConfig(_ name: String) -> String {
    repositoryRoot.appendingPathComponent("fixtures/configs/\(name).yaml").path
}

/// A fresh folder under the system temporary directory, removed by `addTeardownBlock`.
func temporaryFolder(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("mmo-training-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// SplitMix64: seeded choices (kill moments, corrupted bytes) independent of the code under test.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

// MARK: - Checkpoints

/// The state document of a checkpoint as a JSON object.
func stateObject(_ url: URL) throws -> [String: Any] {
    let data = try MMOReader.open(url).stateDocument()
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw CocoaError(.coderReadCorrupt)
    }
    return object
}

/// The optimizer step a checkpoint was written at.
func checkpointStep(_ url: URL) throws -> Int {
    let progress = try stateObject(url)["progress"] as? [String: Any]
    return progress?["step"] as? Int ?? -1
}

/// Where two checkpoints differ: blob names, dtypes, shapes and decoded bytes, and the state
/// document field by field (each re-serialized with sorted keys) outside `ignoring`.
func checkpointDifferences(_ a: URL, _ b: URL, ignoring: Set<String> = ["lineage"]) throws -> [String] {
    var differences: [String] = []
    let ra = try MMOReader.open(a), rb = try MMOReader.open(b)
    if ra.blobs.map(\.name) != rb.blobs.map(\.name) { differences.append("blob list") }
    for blob in ra.blobs {
        guard let other = rb.blob(named: blob.name) else { continue }
        let same = try blob.dtype == other.dtype && blob.shape == other.shape && ra.data(blob.name) == rb.data(blob.name)
        if !same { differences.append("blob \(blob.name)") }
    }
    func canonical(_ value: Any?) throws -> String {
        guard let value else { return "absent" }
        return String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }
    let sa = try stateObject(a), sb = try stateObject(b)
    for key in Set(sa.keys).union(sb.keys).sorted() where !ignoring.contains(key) {
        let x = try canonical(sa[key]), y = try canonical(sb[key])
        if x != y { differences.append("state field '\(key)': \(x.prefix(300)) ≠ \(y.prefix(300))") }
    }
    return differences
}

/// Asserts that two checkpoints hold the same tensors, byte for byte, and the same state
/// document in every field except those in `ignoring`.
func assertSameCheckpoint(
    _ a: URL, _ b: URL, ignoring: Set<String> = ["lineage"], _ context: String, file: StaticString = #filePath, line: UInt = #line
) throws {
    let differences = try checkpointDifferences(a, b, ignoring: ignoring)
    XCTAssertEqual(differences, [], "\(context): \(differences.count) differences", file: file, line: line)
}

/// Non-empty lines of a run's `metrics.jsonl`.
func metricsLines(_ runDirectory: URL) throws -> [String] {
    let text = try String(contentsOf: runDirectory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
    return text.split(separator: "\n").map(String.init)
}

/// `(type, step)` of every metrics line.
func metricsSteps(_ runDirectory: URL) throws -> [(String, Int)] {
    try metricsLines(runDirectory).map { line in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return (object?["type"] as? String ?? "?", object?["step"] as? Int ?? -1)
    }
}

/// Every file of a folder with its bytes, for "nothing was changed" checks.
func snapshot(_ folder: URL) throws -> [String: Data] {
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
        files[name] = try Data(contentsOf: folder.appendingPathComponent(name))
    }
    return files
}

// MARK: - The executable

/// Writes `config` as JSON into `folder`; returns the path (for `--config`).
func writeConfig(_ config: RunConfig, _ name: String, in folder: URL) throws -> String {
    let url = folder.appendingPathComponent("\(name).json")
    try JSONEncoder().encode(config).write(to: url)
    return url.path
}

/// Waits until `condition` holds or `seconds` pass; returns whether it held.
func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

/// `mmo-train` as built next to the test bundle (`swift build --build-tests` / `swift test`).
var trainExecutable: URL {
    #if os(macOS)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("mmo-train")
        }
    #endif
    return Bundle.main.bundleURL.appendingPathComponent("mmo-train")
}

/// The end of a child process and what it printed.
struct CommandResult {
    var status: Int32
    var signaled: Bool
    var stdout: String
    var stderr: String
}

/// A started `mmo-train` (or a shell around it) whose output goes to files in `folder`.
struct RunningCommand {
    let process: Process
    let stdoutURL: URL
    let stderrURL: URL

    /// Waits for the end and collects the output.
    func finish() -> CommandResult {
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            stdout: (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")
    }
}

/// Starts `mmo-train arguments` in the repository root; with `fileSizeLimit` (bytes, a multiple
/// of 512) through `/bin/sh` with `ulimit -f` and SIGXFSZ ignored, so that a write past the limit
/// fails with EFBIG as on a full disk.
func launchTrain(_ arguments: [String], logs folder: URL, fileSizeLimit: Int? = nil) throws -> RunningCommand {
    let id = UUID().uuidString.prefix(8)
    let out = folder.appendingPathComponent("stdout-\(id).txt"), err = folder.appendingPathComponent("stderr-\(id).txt")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    if let limit = fileSizeLimit {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -f \(limit / 512) && trap '' XFSZ && exec \"$0\" \"$@\"", trainExecutable.path] + arguments
    } else {
        process.executableURL = trainExecutable
        process.arguments = arguments
    }
    process.currentDirectoryURL = repositoryRoot
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    return RunningCommand(process: process, stdoutURL: out, stderrURL: err)
}

/// Runs `mmo-train arguments` to the end.
func runTrain(_ arguments: [String], logs folder: URL, fileSizeLimit: Int? = nil) throws -> CommandResult {
    try launchTrain(arguments, logs: folder, fileSizeLimit: fileSizeLimit).finish()
}

/// Fails the test (and returns false) when the executable was not built.
func requireExecutable(file: StaticString = #filePath, line: UInt = #line) -> Bool {
    if FileManager.default.isExecutableFile(atPath: trainExecutable.path) { return true }
    XCTFail("\(trainExecutable.path) is missing; build the package first (`swift build --build-tests`)", file: file, line: line)
    return false
}
