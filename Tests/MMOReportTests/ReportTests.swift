// The report of real tiny runs: every plotted point is a number of metrics.jsonl (read here
// independently) or of the checkpoints, the SVG draws exactly those points, the tables say the
// same numbers, the page is self-contained, and an experiment folder gets mean and band.
import Foundation
import MMOAnalysis
import MMOCore
import MMOModels
import MMOOptim
import MMORun
import MMOTestSupport
import XCTest

@testable import MMOReport

final class RunReportTests: XCTestCase {
    static var cached: (URL, ReportPage, String)?

    func report() throws -> (URL, ReportPage, String) {
        if let c = Self.cached { return c }
        let run = try ReportRuns.similarity
        let page = try ReportBuilder.build(folder: run)
        let c = (run, page, HTMLReport.render(page))
        Self.cached = c
        return c
    }

    func series(_ page: ReportPage, chart: String, _ id: String, file: StaticString = #filePath, line: UInt = #line) throws -> [ChartPoint] {
        let c = try XCTUnwrap(page.chart(chart)?.line, "no line chart \(chart)", file: file, line: line)
        return try XCTUnwrap(c.series.first { $0.id == id }, "no series \(id) in \(chart)", file: file, line: line).points
    }

    /// Equal points; y to 1e-14 relative, since Foundation's JSONSerialization on Linux (the
    /// independent reading here) rounds some decimals a few ulps away from the exact value that
    /// JSONDecoder gives (e.g. 0.44918443904957994 for 0.4491844390495798).
    func assertSame(_ points: [ChartPoint], _ expected: [(Double, Double)], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(points.count, expected.count, file: file, line: line)
        for (p, e) in zip(points, expected) {
            XCTAssertEqual(p.x, e.0, file: file, line: line)
            XCTAssertEqual(p.y, e.1, accuracy: 1e-14 * abs(e.1), file: file, line: line)
        }
    }

    func testCurvesAreTheMetrics() throws {
        let (run, page, _) = try report()
        let lines = try metricsLines(run)
        let models = ["bert", "gpt2", "roberta"]
        XCTAssertEqual(metricsSeries(lines, type: "step", ["models", "bert", "loss"]).count, 12)
        for m in models {
            // Loss is a Float in the file: the same Float, widened.
            let loss = metricsSeries(lines, type: "step", ["models", m, "loss"]).map { ($0.0, Double(Float($0.1))) }
            assertSame(try series(page, chart: "loss", "loss/\(m)"), loss)
            // 12 steps: the smoothing window is 1 step, so the smoothed line is the loss itself.
            assertSame(try series(page, chart: "loss", "loss-smoothed/\(m)"), loss)
            assertSame(try series(page, chart: "lr", "lr/\(m)"), metricsSeries(lines, type: "step", ["models", m, "lr"]))
            assertSame(try series(page, chart: "gradnorm", "gradnorm/\(m)"), metricsSeries(lines, type: "step", ["models", m, "gradNorm"]))
            let accuracy = metricsSeries(lines, type: "eval", ["models", m, "accuracy"])
            XCTAssertEqual(accuracy.count, 2, "tiny evaluates after each of its 2 epochs")
            assertSame(try series(page, chart: "accuracy", "accuracy/\(m)"), accuracy)
        }
        // Gradient similarity: one chart per kind, one raw line per pair, values as logged.
        let keys = Set(lines.flatMap { ($0["similarity"] as? [String: Any])?.keys.map { $0 } ?? [] })
        XCTAssertFalse(keys.isEmpty)
        for key in keys {
            let kind = String(key.split(separator: ":")[0])
            assertSame(try series(page, chart: "gradsim-\(kind)", "gradsim/\(key)"), metricsSeries(lines, type: "step", ["similarity", key]))
        }
        // Smoothing over a longer window is the trailing mean.
        let data = try RunData.load(run)
        let smoothed = try ReportBuilder.run(data, options: ReportOptions(checkpoints: false, smoothing: 4))
        let raw = metricsSeries(lines, type: "step", ["models", "gpt2", "loss"]).map { Double(Float($0.1)) }
        let mean = try series(smoothed, chart: "loss", "loss-smoothed/gpt2").map(\.y)
        for i in raw.indices {
            let window = raw[max(0, i - 3)...i]
            XCTAssertEqual(mean[i], window.reduce(0, +) / Double(window.count), accuracy: 1e-12)
        }
    }

    func testTheSVGDrawsExactlyTheSeries() throws {
        let (_, page, html) = try report()
        let blocks = svgBlocks(html)
        XCTAssertEqual(Set(blocks.keys), Set(page.charts.map(\.id)), "one SVG per chart")
        for chart in page.charts {
            let svg = try XCTUnwrap(blocks[chart.id])
            if let c = chart.line {
                let layout = c.layout()
                let drawn = elements("polyline", in: svg)
                XCTAssertEqual(drawn.count, c.series.reduce(0) { $0 + LineChart.segments($1.points).count }, chart.id)
                for p in drawn {
                    let id = try XCTUnwrap(attribute("data-series", in: p))
                    let k = Int(try XCTUnwrap(attribute("data-segment", in: p)))!
                    let s = try XCTUnwrap(c.series.first { $0.id == id }, "polyline of unknown series \(id)")
                    XCTAssertEqual(attribute("points", in: p), SVG.pointList(LineChart.segments(s.points)[k], layout), "\(chart.id) \(id)")
                }
                // Ticks inside the axes' domains; no point outside the plot area.
                for t in layout.yTicks { XCTAssertTrue(layout.y.domain.contains(t)) }
                for s in c.series {
                    for p in s.points where p.y.isFinite {
                        let (x, y) = layout.pixel(p)
                        XCTAssertTrue(x >= layout.plotLeft - 0.01 && x <= layout.plotRight + 0.01 && y >= layout.plotTop - 0.01 && y <= layout.plotBottom + 0.01, "\(chart.id) \(s.id) \(p)")
                    }
                }
            }
            if let c = chart.scatter {
                let layout = c.layout()
                let circles = elements("circle", in: svg).filter { attribute("data-series", in: $0) != nil }
                XCTAssertEqual(circles.count, c.groups.reduce(0) { $0 + $1.points.count })
                for circle in circles {
                    let group = try XCTUnwrap(c.groups.first { $0.id == attribute("data-series", in: circle) })
                    let p = group.points[Int(attribute("data-index", in: circle)!)!]
                    XCTAssertEqual(attribute("cx", in: circle), svgNumber(layout.x.map(p.x)))
                    XCTAssertEqual(attribute("cy", in: circle), svgNumber(layout.y.map(p.y)))
                }
            }
        }
    }

    func testTablesSayTheMetrics() throws {
        let (run, page, html) = try report()
        let lines = try metricsLines(run)
        let results = try XCTUnwrap(page.table("results"))
        XCTAssertEqual(results.rows.map { $0[0] }, ["bert", "gpt2", "roberta"])
        for row in results.rows {
            let m = row[0]
            let accuracy = metricsSeries(lines, type: "eval", ["models", m, "accuracy"])
            let loss = metricsSeries(lines, type: "eval", ["models", m, "loss"])
            XCTAssertEqual(row[1], String(format: "%.4f", accuracy.last!.1))
            XCTAssertEqual(row[2], String(format: "%.4f", loss.last!.1))
            XCTAssertEqual(row[3], "\(Int(accuracy.last!.0))")
            let best = accuracy.max { $0.1 < $1.1 }!  // the first of equal maxima
            let firstBest = accuracy.first { $0.1 == best.1 }!
            XCTAssertEqual(row[4], String(format: "%.4f", firstBest.1))
            XCTAssertEqual(row[5], "\(Int(firstBest.0))")
            XCTAssertEqual(row[6], String(format: "%.4f", Double(Float(metricsSeries(lines, type: "step", ["models", m, "loss"]).last!.1))))
            XCTAssertEqual(row[7], "0")
            // The same cells are in the HTML.
            XCTAssertTrue(html.contains("<td class=\"num\">\(row[1])</td><td class=\"num\">\(row[2])</td>"))
        }
        // Best accuracy agrees with the trainer's own record in the checkpoint.
        let last = try Checkpoint.open(RunDirectory(url: run).lastURL)
        for row in results.rows { XCTAssertEqual(row[4], String(format: "%.4f", last.state.metrics.best[row[0]]!.accuracy)) }
        let models = try XCTUnwrap(page.table("models"))
        for row in models.rows {
            let record = try XCTUnwrap(last.state.model(named: row[0]))
            XCTAssertEqual(row[1], record.family.rawValue)
            XCTAssertEqual(row[4], "\(record.config.hiddenSize)")
            XCTAssertEqual(row[8], ReportFormat.count(record.parameterCount))
        }
    }

    func testCheckpointFiguresAreTheCrossModelSeries() throws {
        let (run, page, _) = try report()
        let series = try Differ.crossModelSeries(run: run, granularity: .paper)
        XCTAssertEqual(series.map(\.step), [2, 4, 6, 8, 10, 12])
        for p in series.last!.perKind {
            let id = "\(p.kind.rawValue):\(p.modelA)~\(p.modelB)"
            let distance = try self.series(page, chart: "distance-\(p.kind.rawValue)", "distance/\(id)")
            let cosine = try self.series(page, chart: "cosine-\(p.kind.rawValue)", "cosine/\(id)")
            let expected = series.map { r in r.perKind.first { $0.kind == p.kind && $0.modelA == p.modelA && $0.modelB == p.modelB }! }
            assertSame(distance, expected.map { (Double(0), $0.relativeDistance) }.enumerated().map { (Double(series[$0.offset].step), $0.element.1) })
            assertSame(cosine, expected.enumerated().map { (Double(series[$0.offset].step), $0.element.cosine) })
        }
        let table = try XCTUnwrap(page.table("convergence-last"))
        XCTAssertEqual(table.rows.count, series.last!.perKind.count)
        for row in table.rows {
            let p = series.last!.perKind.first { $0.kind.rawValue == row[0] && "\($0.modelA) ~ \($0.modelB)" == row[1] }!
            XCTAssertEqual(row[3], String(format: "%.5f", p.cosine))
            XCTAssertEqual(row[4], String(format: "%.4g", p.relativeDistance))
        }
    }

    func testAttentionPCAMatchesADirectComputation() throws {
        let (run, page, _) = try report()
        let chart = try XCTUnwrap(page.chart("pca")?.scatter)
        XCTAssertEqual(chart.groups.map(\.label), ["bert", "gpt2", "roberta"])
        let steps = RunDirectory(url: run).stepCheckpoints()
        XCTAssertTrue(chart.groups.allSatisfy { $0.points.count == steps.count })
        // Direct: each model's attention tensors grouped by shape (in order of first appearance),
        // flattened; centred; PCA of the rows.
        var rows: [[Double]] = []
        for model in ["bert", "gpt2", "roberta"] {
            for step in steps {
                let checkpoint = try Checkpoint.open(RunDirectory(url: run).stepURL(step))
                let specs = try checkpoint.specs(of: try checkpoint.model(named: model)).filter { $0.kind == .attention }
                var shapes: [[Int]] = []
                for s in specs where !shapes.contains(s.shape) { shapes.append(s.shape) }
                var row: [Double] = []
                for shape in shapes {
                    for s in specs where s.shape == shape {
                        let buffer = FloatBuffer(count: s.count)
                        try checkpoint.readTensor(CheckpointNames.parameter(model: model, s.name), shape: s.shape, into: buffer.pointer)
                        row += (0..<s.count).map { Double(buffer.pointer[$0]) }
                    }
                }
                rows.append(row)
            }
        }
        XCTAssertEqual(rows[0].count, 2 * (4 * 64 * 64 + 4 * 64), "2 layers of q, k, v, o weights and biases at hidden 64")
        let direct = PrincipalComponents(rows: rows)
        let drawn = chart.groups.flatMap(\.points)
        let scale = drawn.map { max(abs($0.x), abs($0.y)) }.max()!
        for (a, b) in zip(drawn, direct.scores) {
            XCTAssertEqual(a.x, b.x, accuracy: 1e-6 * scale)
            XCTAssertEqual(a.y, b.y, accuracy: 1e-6 * scale)
        }
        XCTAssertTrue(chart.xLabel.contains(String(format: "%.1f%%", 100 * direct.explained[0])), chart.xLabel)
    }

    func testThePageIsSelfContained() throws {
        let (_, _, html) = try report()
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertFalse(html.lowercased().contains("<script"))
        XCTAssertFalse(html.contains("http://"))
        XCTAssertFalse(html.contains("https://"))
        XCTAssertFalse(html.contains("<link"), "no external style sheet")
        XCTAssertFalse(html.contains("<img"), "no external image")
        XCTAssertFalse(html.contains("@import") || html.contains("@font-face"))
        for section in ["summary", "curves", "learning-rate", "gradient-similarity", "convergence", "projection"] {
            XCTAssertTrue(html.contains("<section id=\"\(section)\""), section)
        }
    }

    func testARunWithoutSimilarityOrCheckpointsSaysSo() throws {
        let folder = try temporaryFolder(self)
        let run = try trainTiny(into: folder.appendingPathComponent("plain")) { $0.training.keepLast = 1 }
        // Only metrics: no step files.
        for step in RunDirectory(url: run).stepCheckpoints() { try FileManager.default.removeItem(at: RunDirectory(url: run).stepURL(step)) }
        let page = try ReportBuilder.build(folder: run)
        XCTAssertNil(page.chart("gradsim-attention"))
        XCTAssertNil(page.chart("pca"))
        let html = HTMLReport.render(page)
        XCTAssertTrue(html.contains("optimizer.logGradientSimilarity: true"))
        XCTAssertTrue(html.contains("holds no step-NNNNNN.mmo checkpoints"))
        XCTAssertNotNil(page.chart("loss"))
    }
}

final class ExperimentReportTests: XCTestCase {
    func testTwoSeedsOfOneVariantGetAMeanAndABand() throws {
        let root = try ReportRuns.experiment
        let page = try ReportBuilder.build(folder: root)
        XCTAssertTrue(page.title.contains("Experiment"))
        let html = HTMLReport.render(page)
        XCTAssertFalse(html.contains("<script") || html.contains("http://") || html.contains("https://"))
        let seeds = ["tiny-seed7", "tiny-seed8"].map { root.appendingPathComponent($0) }
        for m in ["bert", "gpt2", "roberta"] {
            let accuracy = try XCTUnwrap(page.chart("accuracy-\(m)")?.line)
            let band = try XCTUnwrap(accuracy.bands.first { $0.id == "group-accuracy/tiny/\(m)" })
            let mean = try XCTUnwrap(accuracy.series.first { $0.id == "group-accuracy/tiny/\(m)" })
            let perSeed = try seeds.map { metricsSeries(try metricsLines($0), type: "eval", ["models", m, "accuracy"]) }
            XCTAssertEqual(band.x, perSeed[0].map(\.0))
            for i in band.x.indices {
                let values = perSeed.map { $0[i].1 }
                XCTAssertEqual(band.lower[i], values.min()!)
                XCTAssertEqual(band.upper[i], values.max()!)
                XCTAssertEqual(mean.points[i].y, values.reduce(0, +) / 2, accuracy: 1e-15)
            }
            // The single-run variant has its line and no band.
            XCTAssertNotNil(accuracy.series.first { $0.id == "group-accuracy/solo/\(m)" })
            XCTAssertNil(accuracy.bands.first { $0.id.contains("solo") })
            // Each run's own curve is drawn too.
            XCTAssertNotNil(accuracy.series.first { $0.id == "run-accuracy/tiny-seed8/\(m)" })
            let loss = try XCTUnwrap(page.chart("loss-\(m)")?.line)
            let lossBand = try XCTUnwrap(loss.bands.first { $0.id == "group-loss/tiny/\(m)" })
            let losses = try seeds.map { metricsSeries(try metricsLines($0), type: "step", ["models", m, "loss"]).map { Double(Float($0.1)) } }
            for i in lossBand.x.indices {
                XCTAssertEqual(lossBand.lower[i], min(losses[0][i], losses[1][i]))  // window 1 at 12 steps
                XCTAssertEqual(lossBand.upper[i], max(losses[0][i], losses[1][i]))
            }
        }
        // The band is in the SVG.
        let svg = try XCTUnwrap(svgBlocks(html)["accuracy-bert"])
        let polygons = elements("polygon", in: svg)
        XCTAssertEqual(polygons.compactMap { attribute("data-band", in: $0) }, ["group-accuracy/tiny/bert"])
        // Variant table: mean, min, max of the final accuracies.
        let groups = try XCTUnwrap(page.table("groups"))
        let row = try XCTUnwrap(groups.rows.first { $0[0] == "tiny" && $0[2] == "bert" })
        XCTAssertEqual(row[1], "2")
        let finals = try seeds.map { metricsSeries(try metricsLines($0), type: "eval", ["models", "bert", "accuracy"]).last!.1 }
        XCTAssertEqual(row[3], String(format: "%.4f", finals.reduce(0, +) / 2))
        XCTAssertEqual(row[4], String(format: "%.4f", finals.min()!))
        XCTAssertEqual(row[5], String(format: "%.4f", finals.max()!))
        XCTAssertEqual(try XCTUnwrap(page.table("runs")).rows.count, 9, "3 runs × 3 models")
    }
}

final class ReportToolTests: XCTestCase {
    func testWritesTheReportIntoTheRunFolderOrWhereTold() throws {
        let folder = try temporaryFolder(self)
        let run = try trainTiny(into: folder.appendingPathComponent("run"))
        let r = try runTool("mmo-report", [run.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let html = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("Run report: tiny"))
        XCTAssertTrue(r.stdout.contains(run.appendingPathComponent("report.html").path))
        let out = folder.appendingPathComponent("elsewhere.html")
        let o = try runTool("mmo-report", [run.path, "-o", out.path, "--metrics-only"])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
    }

    func testErrorsNameTheFileAndExit2() throws {
        let folder = try temporaryFolder(self)
        let missing = try runTool("mmo-report", [folder.appendingPathComponent("nope").path])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("nope"), missing.stderr)
        let empty = try runTool("mmo-report", [folder.path])
        XCTAssertEqual(empty.status, 2)
        XCTAssertTrue(empty.stderr.contains(folder.path) && empty.stderr.contains("metrics.jsonl"), empty.stderr)
        // A damaged line in the middle of metrics.jsonl is named with its line number; a torn
        // last line (a killed run) is left out with a note.
        let run = folder.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let good = #"{"type":"eval","step":2,"epoch":1,"models":{"bert":{"accuracy":0.5,"loss":0.7,"count":4}}}"#
        try (good + "\n{\"type\":\"step\",\"step\":3\n" + good + "\n").write(to: run.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        let bad = try runTool("mmo-report", [run.path])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("metrics.jsonl:2"), bad.stderr)
        try (good + "\n{\"type\":\"st").write(to: run.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        let torn = try runTool("mmo-report", [run.path])
        XCTAssertEqual(torn.status, 0, torn.stderr)
        XCTAssertTrue(try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8).contains("incomplete last line"))
        let help = try runTool("mmo-report", ["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("Examples:") && help.stdout.contains("Exit status"))
    }
}
