// A step allocates nothing. glibc's own allocation tracer counts every malloc, calloc, realloc
// and memalign (Swift's heap objects and buffers all end there): the test re-runs this test binary
// with `libc_malloc_debug.so.0` preloaded and `MALLOC_TRACE` set, and the child traces a window
// with `mtrace()` / `muntrace()`. An empty window gives the tracer's own baseline; a window that
// allocates one array proves allocations are seen; the window of 20 steps must match the baseline.
// (The Swift runtime's `_swift_allocObject` hook cannot be used: on Swift 6.3 for Linux installing
// it makes later retains of some strings fault.)
import Foundation
import MMOCore
import XCTest

@testable import MMOOptim

final class AllocationTests: XCTestCase {
    private static let modeVariable = "MMO_ALLOCATION_WINDOW"
    private static let preload = "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"
    private static let optimized: Bool = {
        #if DEBUG
            return false
        #else
            return true
        #endif
    }()

    /// Runs the traced child in `mode` and returns the number of allocations in its window.
    private func allocations(inWindow mode: String) throws -> Int {
        let trace = FileManager.default.temporaryDirectory
            .appendingPathComponent("mmo-alloc-\(ProcessInfo.processInfo.processIdentifier)-\(mode).trace")
        defer { try? FileManager.default.removeItem(at: trace) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        child.arguments = ["MMOOptimTests.AllocationTests/testTracedWindow"]
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = Self.preload
        environment["MALLOC_TRACE"] = trace.path
        environment[Self.modeVariable] = mode
        child.environment = environment
        let output = Pipe()
        child.standardOutput = output
        child.standardError = output
        try child.run()
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        XCTAssertEqual(child.terminationStatus, 0, "traced child failed:\n\(log)")
        XCTAssertTrue(log.contains("window \(mode) done"), "child did not run the window:\n\(log)")
        let lines = try String(contentsOf: trace, encoding: .utf8).split(separator: "\n")
        // mtrace lines: "@ caller + addr size" (malloc/calloc/memalign), "@ caller < old" + "> new" (realloc).
        return lines.filter { $0.contains(" + ") || $0.contains(" > ") }.count
    }

    func testStepAllocatesNothing() throws {
        // -Onone leaves Array accessors unspecialized; their read coroutines allocate frames.
        try XCTSkipUnless(Self.optimized, "the no-allocation guarantee is for optimized builds (make test uses -c release)")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: Self.preload), "glibc malloc tracer not present")
        let baseline = try allocations(inWindow: "empty")
        let control = try allocations(inWindow: "control")
        let steps = try allocations(inWindow: "steps")
        XCTAssertGreaterThan(control, baseline, "the tracer must see the control window's array")
        XCTAssertEqual(steps, baseline, "allocations during 20 optimizer steps (baseline \(baseline))")
    }

    /// The traced child (runs only under `testStepAllocatesNothing`).
    func testTracedWindow() throws {
        guard let mode = ProcessInfo.processInfo.environment[Self.modeVariable] else {
            throw XCTSkip("runs only as the traced child of testStepAllocatesNothing")
        }
        // libc's own `mtrace` is a stub since glibc 2.34; the tracer's is a non-default versioned
        // symbol of the preloaded library, reachable only through `dlvsym`.
        typealias Hook = @convention(c) () -> Void
        typealias VersionedSymbol = @convention(c) (
            UnsafeMutableRawPointer?, UnsafePointer<CChar>, UnsafePointer<CChar>
        ) -> UnsafeMutableRawPointer?
        let dlvsym = unsafeBitCast(try XCTUnwrap(dlsym(dlopen(nil, RTLD_NOW), "dlvsym")), to: VersionedSymbol.self)
        let tracer = try XCTUnwrap(dlopen("libc_malloc_debug.so.0", RTLD_NOW | RTLD_NOLOAD), "tracer not preloaded")
        let start = unsafeBitCast(try XCTUnwrap(dlvsym(tracer, "mtrace", "GLIBC_2.2.5")), to: Hook.self)
        let stop = unsafeBitCast(try XCTUnwrap(dlvsym(tracer, "muntrace", "GLIBC_2.2.5")), to: Hook.self)

        let stores = threeModels()
        var c = OptimizerConfig()
        c.learningRate = 1e-2
        c.warmupSteps = 2
        c.maxGradientNorm = 0.5
        c.syncEvery = 2
        c.convergenceWindow = 3
        c.convergenceEvery = 1
        c.logGradientSimilarity = true
        let optimizer = try MultiModelOptimizer(
            models: stores.enumerated().map { OptimizedModel(name: "m\($0)", store: $1, weight: 1 + Double($0) * 0.1) },
            config: c)
        var losses: [Float] = [1, 1, 1]
        for t in 1...4 {  // warm-up: every lazy structure exists afterwards
            for (m, s) in stores.enumerated() {
                fillGradient(s, model: m, step: t)
                losses[m] = 2 / Float(t)  // the literal's storage is static: copy it now, not in the window
            }
            optimizer.step(losses: losses)
        }
        var checksum = 0.0
        var shared = 0
        var synced = 0
        var sink: [Float] = []
        start()
        switch mode {
        case "control":
            sink = [Float](repeating: 1, count: 1000 + losses.count)
        case "steps":
            for t in 5...24 {
                for m in 0..<3 {
                    let g = stores[m].gradients.pointer
                    for i in 0..<stores[m].totalCount { g[i] = Float((i * 7 + t * 3 + m) % 11) - 5 }
                    losses[m] = 1 / Float(t + m)
                }
                if t == 9 { stores[1].gradients.pointer[3] = .nan }
                let report = optimizer.step(losses: losses)
                checksum += report.models[0].learningRate + (report.similarities[0].cosine ?? 0)
                shared += report.gradientsShared ? 1 : 0
                synced += report.parametersSynchronized ? 1 : 0
            }
        default:
            break
        }
        stop()
        if mode == "steps" {
            XCTAssertEqual(shared, 20)
            XCTAssertEqual(synced, 10)
            XCTAssertTrue(checksum.isFinite && checksum != 0)
        }
        XCTAssertEqual(sink.count, mode == "control" ? 1003 : 0)
        print("window \(mode) done")
    }
}
