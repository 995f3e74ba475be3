// Running the package's executables from tests: shared by the test targets that drive a tool
// (the checkpoint tools, the report) as a child process.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The repository root (this file is `Tests/MMOTestSupport/ToolRunner.swift`).
public let toolTestsRepositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// An executable of the package (`mmo-inspect`, …) as built next to the test bundle.
public func toolExecutable(_ name: String) -> URL {
    #if os(macOS)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent().appendingPathComponent(name)
        }
    #endif
    return Bundle.main.bundleURL.appendingPathComponent(name)
}

/// The end of a tool run and what it printed.
public struct ToolResult {
    /// Exit status.
    public var status: Int32
    /// Everything written to stdout / stderr.
    public var stdout: String
    public var stderr: String
}

/// Runs tool `name` with `arguments` in the repository root and waits for it. Output goes to
/// temporary files (a pipe could fill and block the child while we wait); stdin is empty.
public func runTool(_ name: String, _ arguments: [String]) throws -> ToolResult {
    let id = "\(getpid())-\(UUID().uuidString.prefix(8))"
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(id).out")
    let err = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(id).err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: out)
        try? FileManager.default.removeItem(at: err)
    }
    let process = Process()
    process.executableURL = toolExecutable(name)
    process.arguments = arguments
    process.currentDirectoryURL = toolTestsRepositoryRoot
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return ToolResult(
        status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}
