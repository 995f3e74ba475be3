// Helpers of the report tests: tiny runs trained in-process (once per test process, read-only
// afterwards), an independent reading of metrics.jsonl, SVG parsing, and running mmo-report.
import Foundation
import MMORun
import MMOTraining
import MMOTestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func temporaryFolder(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mmo-report-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Trains the fixtures' tiny config (12 steps) with `changes` into `folder`.
@discardableResult
func trainTiny(into folder: URL, _ changes: (inout RunConfig) -> Void = { _ in }) throws -> URL {
    var config = try RunConfig.load(path: repositoryRoot.appendingPathComponent("fixtures/configs/tiny.yaml").path)
    changes(&config)
    let trainer = try Trainer.start(config: config, runDirectory: folder)
    _ = try trainer.run(progressMode: .quiet)
    return folder
}

/// Runs shared by the tests of this process.
enum ReportRuns {
    private static let lock = NSLock()
    private static var done: [String: URL] = [:]
    static let root = FileManager.default.temporaryDirectory.appendingPathComponent("mmo-report-shared-\(getpid())")

    static func run(_ path: String, _ changes: (inout RunConfig) -> Void) throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let url = done[path] { return url }
        let url = root.appendingPathComponent(path)
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try trainTiny(into: url, changes)
        done[path] = url
        return url
    }

    /// 12 steps with gradient similarities logged and every second step's checkpoint kept.
    static var similarity: URL {
        get throws {
            try run("similarity") {
                $0.optimizer.logGradientSimilarity = true
                $0.training.checkpointEvery = 2
                $0.training.keepLast = 20
            }
        }
    }

    /// A results folder: `tiny-seed7`, `tiny-seed8` (one variant, two seeds) and `solo` (another).
    static var experiment: URL {
        get throws {
            _ = try run("experiment/tiny-seed7") { $0.seed = 7 }
            _ = try run("experiment/tiny-seed8") { $0.seed = 8 }
            _ = try run("experiment/solo") {
                $0.seed = 9
                $0.optimizer.learningRate = 0.002
            }
            return root.appendingPathComponent("experiment")
        }
    }
}

/// metrics.jsonl read with JSONSerialization (not the report's decoder): the lines as objects.
func metricsLines(_ run: URL) throws -> [[String: Any]] {
    let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
    return try text.split(separator: "\n").map { line in
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    }
}

/// (step, value) of `path` (e.g. ["models", "bert", "loss"]) in every line of `type` that has it.
func metricsSeries(_ lines: [[String: Any]], type: String, _ path: [String]) -> [(Double, Double)] {
    lines.compactMap { line -> (Double, Double)? in
        guard line["type"] as? String == type, let step = line["step"] as? Int else { return nil }
        var value: Any? = line
        for key in path { value = (value as? [String: Any])?[key] }
        guard let number = value as? NSNumber else { return nil }
        return (Double(step), number.doubleValue)
    }
}

/// The SVG elements of a page, by their `data-chart`.
func svgBlocks(_ html: String) -> [String: String] {
    var out: [String: String] = [:]
    var rest = html[...]
    while let start = rest.range(of: "<svg "), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
        let block = String(rest[start.lowerBound..<end.upperBound])
        if let id = attribute("data-chart", in: block) { out[id] = block }
        rest = rest[end.upperBound...]
    }
    return out
}

/// The value of the first `name="…"` in `text`.
func attribute(_ name: String, in text: String) -> String? {
    guard let r = text.range(of: " \(name)=\"") else { return nil }
    guard let end = text[r.upperBound...].firstIndex(of: "\"") else { return nil }
    return String(text[r.upperBound..<end])
}

/// Every `<tag …>` opening in `svg`, as its attribute text.
func elements(_ tag: String, in svg: String) -> [String] {
    var out: [String] = []
    var rest = svg[...]
    while let r = rest.range(of: "<\(tag) ") {
        let end = rest[r.upperBound...].firstIndex(of: ">")!
        out.append(" " + String(rest[r.upperBound..<end]))
        rest = rest[end...]
    }
    return out
}

