// mmo-inspect and mmo-diff on checkpoints of tiny runs: what they report must follow from the
// files (checked against independent reads), and bad input must end in exit 2 naming the file.
import Foundation
import MMOAnalysis
import MMOCore
import MMOFormat
import MMOModels
import MMOOptim
import MMORun
import MMOTestSupport
import XCTest

final class InspectTests: XCTestCase {
    func testSummaryMatchesTheStateDocumentAndIndex() throws {
        let last = try SharedRuns.tiny.appendingPathComponent("last.mmo")
        let checkpoint = try Checkpoint.open(last)
        let summary = Inspector.summary(checkpoint)
        XCTAssertEqual(summary.step, checkpoint.state.progress.step)
        XCTAssertEqual(summary.models.map(\.name), ["bert", "gpt2", "roberta"])
        for model in summary.models {
            let specs = try checkpoint.specs(of: try checkpoint.model(named: model.name))
            XCTAssertEqual(model.parameterCount, specs.reduce(0) { $0 + $1.count })
            XCTAssertTrue(model.hasMoments)
            XCTAssertEqual(model.lastEval, checkpoint.state.metrics.lastEval[model.name])
            XCTAssertGreaterThan(model.learningRate, 0)
        }
        // Byte groups add up to the blobs of the index.
        let blobBytes = summary.bytes.filter { $0.group != "stateDocument" }
        XCTAssertEqual(blobBytes.reduce(0) { $0 + $1.rawBytes }, checkpoint.reader.blobs.reduce(0) { $0 + $1.length })
        XCTAssertEqual(blobBytes.reduce(0) { $0 + $1.blobs }, checkpoint.reader.blobs.count)
        XCTAssertEqual(summary.lineage.parent?.path, "step-000010.mmo")
    }

    func testTensorRowsCarrySpecsAndStatsMatchAnIndependentPass() throws {
        let checkpoint = try Checkpoint.open(try SharedRuns.tiny.appendingPathComponent("last.mmo"))
        var rows = try Inspector.tensors(checkpoint, model: "gpt2", kind: .attention)
        XCTAssertFalse(rows.isEmpty)
        XCTAssertTrue(rows.allSatisfy { $0.model == "gpt2" && $0.kind == .attention && $0.role != nil })
        // Three groups per parameter: value, first and second moment.
        XCTAssertEqual(Set(rows.map(\.group)), [.parameters, .firstMoments, .secondMoments])
        try Inspector.addStats(to: &rows, reader: checkpoint.reader)
        for row in rows.prefix(6) {
            let values = try checkpoint.reader.floats(row.name)
            let sum = values.reduce(0.0) { $0 + Double($1) }
            let l2 = values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let stats = try XCTUnwrap(row.stats)
            XCTAssertEqual(stats.count, values.count)
            XCTAssertEqual(stats.mean, sum / Double(values.count), accuracy: 1e-12)
            XCTAssertEqual(stats.l2, l2, accuracy: 1e-9 * max(1, l2))
            XCTAssertEqual(stats.min, Double(values.min()!))
            XCTAssertEqual(stats.max, Double(values.max()!))
            if row.group == .secondMoments { XCTAssertGreaterThanOrEqual(stats.min, 0) }
        }
        XCTAssertThrowsError(try Inspector.tensors(checkpoint, model: "t5"))
    }

    func testStatsCountNonFiniteValuesAndIgnoreThemElsewhere() {
        let values: [Float] = [1, .nan, 3, .infinity, -.infinity]
        let stats = values.withUnsafeBufferPointer { TensorStats.of($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(stats.nan, 1)
        XCTAssertEqual(stats.inf, 2)
        XCTAssertEqual(stats.mean, 2)
        XCTAssertEqual(stats.std, 1)
        XCTAssertEqual(stats.min, 1)
        XCTAssertEqual(stats.max, 3)
    }

    func testCommandLineSummaryJSONVerifyAndBadInput() throws {
        let run = try SharedRuns.tiny
        let last = run.appendingPathComponent("last.mmo").path
        let text = try runTool("mmo-inspect", [last])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("step 12 of 12"), text.stdout)
        XCTAssertTrue(text.stdout.contains("roberta"))

        let json = try jsonObject(try runTool("mmo-inspect", [last, "--json"]).stdout)
        XCTAssertEqual(json["step"] as? Int, 12)
        XCTAssertEqual((json["models"] as? [[String: Any]])?.count, 3)

        let verify = try runTool("mmo-inspect", [last, "--verify"])
        XCTAssertEqual(verify.status, 0, verify.stderr)

        // One flipped byte inside a blob: verify exits 1 naming that blob; the summary still
        // opens (it does not read blobs).
        let folder = try temporaryFolder(self)
        let reader = try MMOReader.open(URL(fileURLWithPath: last))
        let victim = try XCTUnwrap(reader.blobs.first { $0.name.hasPrefix("model/roberta/") && $0.storedLength > 100 })
        let damaged = try corruptedCopy(of: URL(fileURLWithPath: last), to: folder.appendingPathComponent("damaged.mmo")) {
            $0[victim.region.offset + 50] ^= 0x10
        }
        let bad = try runTool("mmo-inspect", [damaged.path, "--verify"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stdout.contains(victim.name), bad.stdout)
        XCTAssertEqual(try runTool("mmo-inspect", [damaged.path]).status, 0)

        // Truncated, missing, a folder, a bad flag: exit 2 with the file named.
        let truncated = try corruptedCopy(of: URL(fileURLWithPath: last), to: folder.appendingPathComponent("cut.mmo")) {
            $0 = $0.prefix($0.count / 2)
        }
        let cut = try runTool("mmo-inspect", [truncated.path])
        XCTAssertEqual(cut.status, 2)
        XCTAssertTrue(cut.stderr.contains("cut.mmo"), cut.stderr)
        XCTAssertEqual(try runTool("mmo-inspect", [truncated.path, "--verify"]).status, 1)
        XCTAssertEqual(try runTool("mmo-inspect", [folder.appendingPathComponent("none.mmo").path]).status, 2)
        let dir = try runTool("mmo-inspect", [run.path])
        XCTAssertEqual(dir.status, 2)
        XCTAssertTrue(dir.stderr.contains("folder"), dir.stderr)
        XCTAssertEqual(try runTool("mmo-inspect", [last, "--kind", "convolution"]).status, 2)
    }

    func testContainerOfAnotherProducerIsShownNotRefused() throws {
        let golden = repositoryRoot.appendingPathComponent("fixtures/golden/v1-python.mmo").path
        let result = try runTool("mmo-inspect", [golden])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("not a training checkpoint"), result.stdout)
        XCTAssertEqual(try runTool("mmo-inspect", [golden, "--verify"]).status, 0)
    }
}

final class DiffTests: XCTestCase {
    func testDriftAgainstAnIndependentComputation() throws {
        let run = try SharedRuns.tiny
        let a = try Checkpoint.open(run.appendingPathComponent("step-000010.mmo"))
        let b = try Checkpoint.open(run.appendingPathComponent("step-000012.mmo"))
        let report = try Differ.drift(a, b)
        XCTAssertEqual(report.tensors.count, a.reader.blobs.filter { $0.name.hasPrefix("model/") }.count)
        XCTAssertTrue(report.onlyInA.isEmpty && report.onlyInB.isEmpty)
        // Sorted by drift, and each figure matches a direct computation.
        XCTAssertEqual(report.tensors.map(\.relativeL2), report.tensors.map(\.relativeL2).sorted(by: >))
        for t in report.tensors.prefix(5) + report.tensors.suffix(2) {
            let x = try a.reader.floats(t.name), y = try b.reader.floats(t.name)
            var dd = 0.0, aa = 0.0, bb = 0.0, ab = 0.0, m = 0.0
            for (p, q) in zip(x, y) {
                let (p, q) = (Double(p), Double(q))
                dd += (q - p) * (q - p)
                aa += p * p
                bb += q * q
                ab += p * q
                m = max(m, abs(q - p))
            }
            XCTAssertEqual(t.relativeL2, (dd / aa).squareRoot(), accuracy: 1e-12)
            XCTAssertEqual(t.cosine, ab / (aa.squareRoot() * bb.squareRoot()), accuracy: 1e-12)
            XCTAssertEqual(t.maxAbs, m)
        }
        // The per-model aggregate is the drift of the concatenated tensors.
        let bert = try XCTUnwrap(report.perModel.first { $0.key == "bert" })
        XCTAssertEqual(bert.tensors, report.tensors.filter { $0.model == "bert" }.count)
        // Two steps of training move parameters: nothing is identical.
        XCTAssertTrue(report.perModel.allSatisfy { $0.relativeL2 > 0 && $0.cosine < 1 && $0.cosine > 0.9 })
    }

    func testDriftOfAFileWithItselfIsZero() throws {
        let last = try SharedRuns.tiny.appendingPathComponent("last.mmo")
        let report = try Differ.drift(try Checkpoint.open(last), try Checkpoint.open(last), moments: true)
        XCTAssertTrue(report.tensors.allSatisfy { $0.relativeL2 == 0 && $0.maxAbs == 0 })
        XCTAssertEqual(report.groups, ["parameters", "firstMoments", "secondMoments"])
    }

    func testExactIsZeroForItselfAndOneForTwoSteps() throws {
        let run = try SharedRuns.tiny
        let last = run.appendingPathComponent("last.mmo").path, step10 = run.appendingPathComponent("step-000010.mmo").path
        let same = try runTool("mmo-diff", ["--exact", last, run.appendingPathComponent("step-000012.mmo").path])
        XCTAssertEqual(same.status, 0, same.stdout + same.stderr)
        let differ = try runTool("mmo-diff", ["--exact", last, step10])
        XCTAssertEqual(differ.status, 1)
        XCTAssertTrue(differ.stdout.contains("state progress."), differ.stdout)
        XCTAssertTrue(differ.stdout.hasSuffix("differ\n"), differ.stdout)
        XCTAssertTrue(differ.stdout.contains("blob model/bert/"), differ.stdout)
    }

    func testExactExcludesLineageOnlyWhenAsked() throws {
        // Same blobs, a different parent: identical only with --ignore lineage, and the output says so.
        let folder = try temporaryFolder(self)
        let last = try SharedRuns.tiny.appendingPathComponent("last.mmo")
        let checkpoint = try Checkpoint.open(last)
        var state = checkpoint.state
        state.lineage = CheckpointState.Lineage(parent: .init(contentHash: "0123456789abcdef", path: "elsewhere.mmo"))
        var tensors: [CheckpointTensor] = []
        var buffers: [FloatBuffer] = []
        for blob in checkpoint.reader.blobs {
            let buffer = FloatBuffer(count: blob.count)
            try checkpoint.reader.read(blob, into: UnsafeMutableRawBufferPointer(start: buffer.pointer, count: blob.length))
            buffers.append(buffer)
            tensors.append(CheckpointTensor(name: blob.name, shape: blob.shape, values: buffer.pointer))
        }
        let copy = folder.appendingPathComponent("relinked.mmo")
        try CheckpointWriter.write(state, tensors: tensors, to: copy)
        let strict = try runTool("mmo-diff", ["--exact", last.path, copy.path])
        XCTAssertEqual(strict.status, 1)
        XCTAssertTrue(strict.stdout.contains("lineage.parent"), strict.stdout)
        let loose = try runTool("mmo-diff", ["--exact", last.path, copy.path, "--ignore", "lineage"])
        XCTAssertEqual(loose.status, 0, loose.stdout)
        XCTAssertTrue(loose.stdout.contains("excluded: lineage"), loose.stdout)
        XCTAssertEqual(buffers.count, tensors.count)
    }

    func testCrossModelMatchesTheOptimizerGroupsAndSyncBetaOneMakesThemEqual() throws {
        let checkpoint = try Checkpoint.open(try SharedRuns.tiny.appendingPathComponent("last.mmo"))
        for granularity in SharingGranularity.allCases {
            let report = try Differ.crossModel(checkpoint, granularity: granularity)
            let specs = try checkpoint.state.models.map { try checkpoint.specs(of: $0) }
            let groups = CompatibilityGroup.groups(models: specs, granularity: granularity)
            // One entry per group and pair of contributing models.
            let expected = groups.reduce(0) { n, g in let m = Set(g.members.map(\.model)).count; return n + m * (m - 1) / 2 }
            XCTAssertEqual(report.pairs.count, expected, "\(granularity)")
            XCTAssertTrue(report.pairs.allSatisfy { $0.cosine >= -1 && $0.cosine <= 1 && $0.relativeDistance >= 0 && $0.relativeDistance <= 1 })
        }
        // Independent random initialisations: attention matrices of two models are nearly orthogonal.
        let paper = try Differ.crossModel(checkpoint, granularity: .paper)
        let attention = try XCTUnwrap(paper.perKind.first { $0.kind == .attention })
        XCTAssertLessThan(abs(attention.cosine), 0.3)
        // LayerNorm weights start at 1 in every model: highly similar.
        let norm = try XCTUnwrap(paper.perKind.first { $0.kind == .norm })
        XCTAssertGreaterThan(norm.cosine, 0.9)
    }

    func testSeriesOverARunAndItsCSV() throws {
        let run = try SharedRuns.tiny
        let folder = try temporaryFolder(self)
        let csv = folder.appendingPathComponent("series.csv").path
        let result = try runTool("mmo-diff", ["--series", run.path, "--csv", csv, "--granularity", "role"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.first, "step,key,kind,modelA,modelB,tensors,cosine,relativeDistance")
        let steps = Set(lines.dropFirst().map { $0.split(separator: ",")[0] })
        XCTAssertEqual(steps, ["10", "12"])
        XCTAssertEqual(try runTool("mmo-diff", ["--series", folder.path]).status, 2)
    }

    func testBadInputExitsTwoNamingTheFile() throws {
        let last = try SharedRuns.tiny.appendingPathComponent("last.mmo").path
        let folder = try temporaryFolder(self)
        let junk = folder.appendingPathComponent("junk.mmo")
        try Data("not a checkpoint".utf8).write(to: junk)
        let result = try runTool("mmo-diff", [last, junk.path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("junk.mmo"), result.stderr)
        XCTAssertEqual(try runTool("mmo-diff", [last]).status, 2)
        XCTAssertEqual(try runTool("mmo-diff", ["--cross-model", last, last]).status, 2)
        XCTAssertEqual(try runTool("mmo-diff", [last, last, "--granularity", "block"]).status, 2)
    }
}
