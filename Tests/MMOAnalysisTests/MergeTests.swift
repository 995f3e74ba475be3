// mmo-merge: the per-tensor arithmetic on hand-computed cases, and whole merges of tiny runs —
// identities a soup must satisfy bit for bit, offline sync against the optimizer's own sync, the
// greedy soup's decisions against independent evaluations, refusals naming the difference, and
// a merged file that verifies, diffs and resumes.
import Foundation
import MMOAnalysis
import MMOCore
import MMOFormat
import MMOModels
import MMOOptim
import MMORun
import MMOTestSupport
import XCTest

final class MergeTests: XCTestCase {
    // MARK: - Helpers

    /// Every f32 blob of a group (`model/…` by default) of `url`, decoded.
    func tensors(_ url: URL, prefix: String = "model/") throws -> [String: [Float]] {
        let checkpoint = try Checkpoint.open(url)
        var out: [String: [Float]] = [:]
        for blob in checkpoint.reader.blobs where blob.name.hasPrefix(prefix) {
            var values = [Float](repeating: 0, count: blob.count)
            try values.withUnsafeMutableBytes { try checkpoint.reader.read(blob, into: $0) }
            out[blob.name] = values
        }
        return out
    }

    func bits(_ x: [Float]) -> [UInt32] { x.map(\.bitPattern) }

    /// Asserts two tensor maps are identical bit for bit (same names, same bits).
    func assertIdentical(_ a: [String: [Float]], _ b: [String: [Float]], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(a.keys), Set(b.keys), "\(what): tensor names", file: file, line: line)
        XCTAssertFalse(a.isEmpty, "\(what): no tensors compared", file: file, line: line)
        for (name, x) in a where bits(x) != bits(b[name] ?? []) {
            XCTFail("\(what): \(name) differs", file: file, line: line)
            return
        }
    }

    @discardableResult
    func merge(_ inputs: [URL], _ options: MergeOptions, to output: URL) throws -> MergeReport {
        try Merger.merge(inputs: inputs.map(\.path), options: options, output: output.path)
    }

    /// A copy of `source` whose state document is changed by `edit` (blobs copied unchanged).
    func rewritten(_ source: URL, to destination: URL, _ edit: (inout CheckpointState) -> Void) throws -> URL {
        let checkpoint = try Checkpoint.open(source)
        var writer = MMOWriter()
        for blob in checkpoint.reader.blobs {
            var values = [Float](repeating: 0, count: blob.count)
            try values.withUnsafeMutableBytes { try checkpoint.reader.read(blob, into: $0) }
            try writer.add(blob.name, shape: blob.shape, floats: values)
        }
        var state = checkpoint.state
        edit(&state)
        try writer.setStateDocument(state.encoded())
        try writer.write(to: destination)
        return destination
    }

    // MARK: - Arithmetic on hand-computed cases

    func testSlerpOfOrthogonalVectorsAndLerpFallback() {
        var out = [Float](repeating: 0, count: 2)
        // θ = π/2: s0 = s1 = sin(π/4) / sin(π/2) = √2/2.
        let lerp = MergeMath.slerp(t: 0.5, [1, 0], [0, 1], 2, into: &out)
        XCTAssertFalse(lerp)
        XCTAssertEqual(out[0], Float(0.5.squareRoot()), accuracy: 1e-7)
        XCTAssertEqual(out[1], Float(0.5.squareRoot()), accuracy: 1e-7)
        // t = 1/3 on the quarter circle of radius 2: (2cos(π/6), 2sin(π/6)) = (√3, 1).
        MergeMath.slerp(t: 1.0 / 3, [2, 0], [0, 2], 2, into: &out)
        XCTAssertEqual(out[0], Float(3.0.squareRoot()), accuracy: 1e-6)
        XCTAssertEqual(out[1], 1, accuracy: 1e-6)
        // Collinear (normalised dot 1 > 0.9995): plain lerp, (1 − t)a + tb.
        XCTAssertTrue(MergeMath.slerp(t: 0.25, [1, 2], [2, 4], 2, into: &out))
        XCTAssertEqual(out, [1.25, 2.5])
        // t = 0 is the first tensor exactly, even off the fallback.
        MergeMath.slerp(t: 0, [0.3, -0.7], [0.9, 0.1], 2, into: &out)
        XCTAssertEqual(bits(out), bits([0.3, -0.7]))
    }

    func taskVector(_ method: TaskVectorMethod, base: [Float], _ inputs: [[Float]], weights: [Double], lambda: Double = 1, seed: UInt64 = 0) -> [Float] {
        let n = base.count
        let buffers = inputs.map { FloatBuffer($0) }
        let scratch = FloatBuffer(count: n), out = FloatBuffer(count: n), b = FloatBuffer(base)
        var rngs = inputs.indices.map { MergeMath.dareStream(seed: seed, input: $0, blob: "model/m/p") }
        // The kernels take raw pointers: keep the buffers alive across the call.
        withExtendedLifetime((buffers, scratch, b)) {
            MergeMath.taskVectorMerge(
                method, base: b.pointer, inputs: buffers.map(\.pointer), n, weights: weights, lambda: lambda, rngs: &rngs,
                scratch: scratch.pointer, into: out.pointer)
        }
        return out.array
    }

    func testTaskArithmetic() {
        // δ1 = (1, 0, −1), δ2 = (0, 2, 0); 1·δ1 + 0.5·δ2 = (1, 1, −1); ×λ 2; + base 1.
        let out = taskVector(.taskArithmetic, base: [1, 1, 1], [[2, 1, 0], [1, 3, 1]], weights: [1, 0.5], lambda: 2)
        XCTAssertEqual(out, [3, 3, -1])
    }

    func testTiesTrimElectAndDisjointMean() {
        // Deltas against base 1 (density 0.5 keeps 2 of 4 by magnitude):
        //   δ1 = ( 3, −1,  2,  0.5) → ( 3,  0,  0+2, 0) = (3, 0, 2, 0)
        //   δ2 = (−1, −2,  1,  4  ) → ( 0, −2,  0,   4)
        //   δ3 = ( 2, 0.1, −3, −0.2) → ( 2,  0, −3,   0)
        // Signs of the sums: +, −, −, +. Agreeing means: (3+2)/2, −2, −3, 4.
        let base: [Float] = [1, 1, 1, 1]
        let deltas: [[Float]] = [[3, -1, 2, 0.5], [-1, -2, 1, 4], [2, 0.1, -3, -0.2]]
        let inputs = deltas.map { zip($0, base).map { $0 + $1 } }
        XCTAssertEqual(taskVector(.ties(density: 0.5), base: base, inputs, weights: [1, 1, 1]), [3.5, -1, -2, 5])
        // Weights: element 0 with w = (1, 1, 3): sum 3 + 6 > 0, agreeing (3·1 + 2·3) / (1 + 3) = 2.25;
        // element 2: 2 − 9 < 0, only δ3: −9 / 3 = −3; λ 2 doubles the delta.
        XCTAssertEqual(taskVector(.ties(density: 0.5), base: base, inputs, weights: [1, 1, 3], lambda: 2), [5.5, -3, -5, 9])
        // Density so low that ⌊0.1 · 4⌋ = 0: the largest magnitude is kept (mergekit would assert).
        XCTAssertEqual(taskVector(.ties(density: 0.1), base: [0, 0, 0, 0], [[1, -5, 2, 0]], weights: [1]), [0, -5, 0, 0])
        // Equal magnitudes at the cut: the lower index is kept.
        XCTAssertEqual(taskVector(.ties(density: 0.5), base: [0, 0, 0, 0], [[2, -2, 2, 1]], weights: [1]), [2, -2, 0, 0])
        // Nobody agrees with the elected sign only when every delta is 0: the base is kept.
        XCTAssertEqual(taskVector(.ties(density: 1), base: [7], [[7], [7]], weights: [1, 1]), [7])
    }

    func testDareDropsSeededAndKeepsTheL1Norm() {
        let n = 64
        let base = (0..<n).map { Float($0) * 0.25 }
        let delta = (0..<n).map { Float(($0 % 7) - 3) * 0.5 }
        let input = zip(base, delta).map { $0 + $1 }
        // Density 1 is task arithmetic.
        XCTAssertEqual(taskVector(.dare(density: 1), base: base, [input], weights: [1]),
                       taskVector(.taskArithmetic, base: base, [input], weights: [1]))
        let out = taskVector(.dare(density: 0.5), base: base, [input], weights: [1], seed: 3)
        // The mask, drawn independently from the documented stream: 24-bit uniforms < density.
        var rng = MergeMath.dareStream(seed: 3, input: 0, blob: "model/m/p")
        let keep = (0..<n).map { _ in Double(rng.nextUInt32() >> 8) / 16_777_216 < 0.5 }
        let before = delta.reduce(0.0) { $0 + Double(abs($1)) }
        let after = zip(delta, keep).reduce(0.0) { $0 + ($1.1 ? Double(abs($1.0)) : 0) }
        XCTAssertTrue(keep.contains(true) && keep.contains(false), "the seeded mask drops some and keeps some")
        for i in 0..<n {
            let expected = keep[i] ? base[i] + Float(Double(delta[i]) * before / after) : base[i]
            XCTAssertEqual(out[i], expected, accuracy: 1e-5, "element \(i)")
        }
        // The same seed gives the same merge; another seed another mask.
        XCTAssertEqual(out, taskVector(.dare(density: 0.5), base: base, [input], weights: [1], seed: 3))
        XCTAssertNotEqual(out, taskVector(.dare(density: 0.5), base: base, [input], weights: [1], seed: 4))
    }

    // MARK: - Soups

    func testUniformSoupOfACheckpointWithItselfIsThatCheckpoint() throws {
        let run = try SharedRuns.tiny, folder = try temporaryFolder(self)
        let input = run.appendingPathComponent("step-000012.mmo"), out = folder.appendingPathComponent("soup.mmo")
        var options = MergeOptions(method: .uniform)
        options.keepOptimizer = true
        let report = try merge([input, input], options, to: out)
        assertIdentical(try tensors(input), try tensors(out), "parameters")
        assertIdentical(try tensors(input, prefix: "optim/"), try tensors(out, prefix: "optim/"), "moments")
        // Lineage: both parents with the input's content hash, and the operation.
        let merged = try Checkpoint.open(out), hash = try Checkpoint.open(input).reader.contentHashHex
        XCTAssertEqual(merged.state.lineage.parents?.map(\.contentHash), [hash, hash])
        XCTAssertEqual(merged.state.lineage.parents?.map(\.path), [input.path, input.path])
        XCTAssertNil(merged.state.lineage.parent)
        XCTAssertEqual(merged.state.lineage.operation, report.operation)
        XCTAssertTrue(report.operation.hasPrefix("mmo-merge --method uniform --keep-optimizer"), report.operation)
        XCTAssertEqual(merged.state.progress.step, 12)
        XCTAssertEqual(report.optimizer, "averaged")
    }

    func testWeightedSoup() throws {
        let run = try SharedRuns.tiny, folder = try temporaryFolder(self)
        let a = run.appendingPathComponent("step-000010.mmo"), b = run.appendingPathComponent("step-000012.mmo")
        var options = MergeOptions(method: .weighted)
        options.weights = [1, 0]
        try merge([a, b], options, to: folder.appendingPathComponent("first.mmo"))
        let ta = try tensors(a), tb = try tensors(b)
        assertIdentical(ta, try tensors(folder.appendingPathComponent("first.mmo")), "weights (1, 0)")
        XCTAssertTrue(try tensors(folder.appendingPathComponent("first.mmo"), prefix: "optim/").isEmpty, "moments are dropped by default")
        // (1, 3): every element (a + 3b) / 4, and the files really differ.
        options.weights = [1, 3]
        try merge([a, b], options, to: folder.appendingPathComponent("w.mmo"))
        let w = try tensors(folder.appendingPathComponent("w.mmo"))
        var differing = 0
        for (name, x) in ta {
            let y = tb[name]!, z = w[name]!
            for i in x.indices {
                if x[i] != y[i] { differing += 1 }
                XCTAssertEqual(z[i], Float((Double(x[i]) + 3 * Double(y[i])) / 4), "\(name)[\(i)]")
            }
        }
        XCTAssertGreaterThan(differing, 1000)
    }

    func testModelOptionMergesOnlyTheNamedModels() throws {
        let run = try SharedRuns.tiny, folder = try temporaryFolder(self)
        let a = run.appendingPathComponent("step-000010.mmo"), b = run.appendingPathComponent("step-000012.mmo")
        var options = MergeOptions(method: .uniform)
        options.models = ["gpt2"]
        let out = folder.appendingPathComponent("gpt2.mmo")
        let report = try merge([a, b], options, to: out)
        XCTAssertEqual(report.models.map(\.merged), [false, true, false])
        let ta = try tensors(a), to = try tensors(out)
        for (name, x) in to {
            if name.hasPrefix("model/gpt2/") { continue }
            XCTAssertEqual(bits(x), bits(ta[name]!), "\(name) is copied from the first input")
        }
        XCTAssertNotEqual(to["model/gpt2/score.weight"], ta["model/gpt2/score.weight"])
    }

    // MARK: - Offline synchronization

    func testSyncWithBetaOneMakesEveryCompatibleGroupIdentical() throws {
        let run = try SharedRuns.tiny, folder = try temporaryFolder(self)
        let input = run.appendingPathComponent("last.mmo"), out = folder.appendingPathComponent("synced.mmo")
        for granularity in SharingGranularity.allCases {
            var options = MergeOptions(method: .sync)
            options.beta = 1
            options.granularity = granularity
            let report = try merge([input], options, to: out)
            let checkpoint = try Checkpoint.open(out)
            let specs = try checkpoint.state.models.map { try checkpoint.specs(of: $0) }
            let groups = GroupMixer(
                groups: CompatibilityGroup.groups(models: specs, granularity: granularity), offsets: specs.map(Merger.layout),
                weights: checkpoint.state.models.map { Double($0.weight) }
            ).groups
            XCTAssertEqual(report.sync?.groups, groups.count)
            XCTAssertGreaterThan(groups.count, 0)
            let values = try tensors(out), original = try tensors(input)
            var grouped = Set<String>()
            for group in groups {
                let names = group.members.map { CheckpointNames.parameter(model: checkpoint.state.models[$0.model].name, specs[$0.model][$0.tensor].name) }
                grouped.formUnion(names)
                for name in names.dropFirst() {
                    XCTAssertEqual(bits(values[name]!), bits(values[names[0]]!), "\(granularity): \(name) vs \(names[0]) in \(group.key)")
                }
                XCTAssertNotEqual(bits(values[names[0]]!), bits(original[names[0]]!), "\(group.key) was averaged")
            }
            for (name, x) in values where !grouped.contains(name) {
                XCTAssertEqual(bits(x), bits(original[name]!), "\(granularity): \(name) is in no group and stays")
            }
        }
    }

    /// A MultiModelOptimizer step with zero gradients, weight decay 0 and sharing off changes
    /// parameters only by its sync (AdamW moves p by lr·0/(0 + ε) = 0), so with syncEvery 1 its
    /// parameters after one step must equal the offline sync bit for bit.
    func testOfflineSyncIsBitIdenticalToTheOptimizersSync() throws {
        let run = try SharedRuns.tiny, folder = try temporaryFolder(self)
        let input = run.appendingPathComponent("last.mmo")
        let checkpoint = try Checkpoint.open(input)
        for (granularity, beta) in [(SharingGranularity.paper, 0.37), (.role, 0.1), (.layer, 1.0)] {
            let models = try checkpoint.state.models.map { try checkpoint.loadModel($0.name) }
            var config = checkpoint.state.run.optimizer
            config.gradientSharing = false
            config.weightDecay = 0
            config.parameterSync = true
            config.syncEvery = 1
            config.syncCoefficient = beta
            config.granularity = granularity
            config.maxGradientNorm = nil
            let optimizer = try MultiModelOptimizer(
                models: zip(checkpoint.state.models, models).map { OptimizedModel(name: $0.name, store: $1.parameters, weight: Double($0.weight)) },
                config: config)
            for _ in 0..<config.accumulationSteps { optimizer.recordMicroBatch() }
            let report = optimizer.step(losses: Array(repeating: 0.5, count: models.count))
            XCTAssertTrue(report.parametersSynchronized)
            XCTAssertFalse(report.models.contains { $0.skipped })

            var options = MergeOptions(method: .sync)
            options.beta = beta
            options.granularity = granularity
            let out = folder.appendingPathComponent("sync-\(granularity.rawValue).mmo")
            try merge([input], options, to: out)
            let offline = try tensors(out), original = try tensors(input)
            var moved = 0
            for (record, model) in zip(checkpoint.state.models, models) {
                for (i, spec) in model.parameters.specs.enumerated() {
                    let name = CheckpointNames.parameter(model: record.name, spec.name)
                    let trained = Array(UnsafeBufferPointer(start: model.parameters.value(i), count: spec.count))
                    XCTAssertEqual(bits(trained), bits(offline[name]!), "\(granularity) β \(beta): \(name)")
                    if bits(trained) != bits(original[name]!) { moved += 1 }
                }
            }
            XCTAssertGreaterThan(moved, 10, "the sync changed parameters (\(granularity))")
        }
    }

    // MARK: - Greedy soup

    func testGreedySoupNeverAcceptsAnIngredientThatLowersHeldOutAccuracy() throws {
        let run = try SharedRuns.run("tiny-keep6") { $0.training.keepLast = 6 }
        let folder = try temporaryFolder(self)
        let inputs = [2, 4, 6, 8, 10, 12].map { run.appendingPathComponent(String(format: "step-%06d.mmo", $0)) }
        let out = folder.appendingPathComponent("greedy.mmo")
        let result = try runTool("mmo-merge", ["--method", "greedy"] + inputs.map(\.path) + ["-o", out.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try JSONDecoder().decode(MergeReport.self, from: Data(result.stdout.utf8))
        let soups = try XCTUnwrap(report.greedy)
        XCTAssertEqual(soups.map(\.model), ["bert", "gpt2", "roberta"])

        // Independent evaluations on the run's validation set.
        let first = try Checkpoint.open(inputs[0]), merged = try Checkpoint.open(out)
        let validation = try EvaluationData.validation(of: first)
        let batchSize = first.state.run.training.batchSize
        func accuracy(_ checkpoint: Checkpoint, _ name: String) throws -> Double {
            let record = try checkpoint.model(named: name)
            let batch = TokenBatch(maxBatchSize: batchSize, maxSequenceLength: checkpoint.state.run.data.maxLength)
            return Evaluator.evaluate(
                try checkpoint.loadModel(name), on: EvaluationData.encoded(validation, for: record, of: checkpoint), batch: batch,
                batchSize: batchSize
            ).accuracy
        }
        var decisions = 0
        for soup in soups {
            // Alone: what the report says each input scores, sorted best first.
            for ingredient in soup.ingredients {
                XCTAssertEqual(ingredient.accuracy, try accuracy(try Checkpoint.open(URL(fileURLWithPath: ingredient.path)), soup.model), ingredient.path)
            }
            XCTAssertEqual(soup.ingredients.map(\.accuracy), soup.ingredients.map(\.accuracy).sorted(by: >))
            XCTAssertEqual(soup.steps.count, inputs.count - 1)
            var current = soup.ingredients[0].accuracy
            for step in soup.steps {
                XCTAssertEqual(step.soupAccuracy, current, "\(soup.model): the soup's accuracy before \(step.path)")
                XCTAssertEqual(step.accepted, step.candidateAccuracy > current, "\(soup.model): \(step.path)")
                if step.accepted { current = step.candidateAccuracy }
                decisions += 1
            }
            XCTAssertEqual(soup.accuracy, current)
            XCTAssertGreaterThanOrEqual(soup.accuracy, soup.ingredients[0].accuracy)
            XCTAssertEqual(soup.accepted.count, 1 + soup.steps.filter(\.accepted).count)
            // The file holds the soup that was evaluated.
            XCTAssertEqual(try accuracy(merged, soup.model), soup.accuracy, "\(soup.model): the written soup")
        }
        XCTAssertEqual(decisions, 15)
    }

    // MARK: - Task-vector methods end to end

    func testSlerpAtZeroIsTheFirstInputAndTiesOutputVerifiesAndDiffs() throws {
        let run = try SharedRuns.tiny, folder = try temporaryFolder(self)
        let a = run.appendingPathComponent("step-000010.mmo"), b = run.appendingPathComponent("step-000012.mmo")
        var options = MergeOptions(method: .slerp)
        options.t = 0
        try merge([b, a], options, to: folder.appendingPathComponent("slerp.mmo"))
        assertIdentical(try tensors(b), try tensors(folder.appendingPathComponent("slerp.mmo")), "slerp t=0")

        let ties = folder.appendingPathComponent("ties.mmo")
        let result = try runTool("mmo-merge", ["--method", "ties", "--density", "0.3", "--lambda", "0.8", "--base", a.path, b.path, b.path, "-o", ties.path, "--keep-optimizer"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("optimizer moments copied from \(b.path)"), result.stdout)
        let verify = try runTool("mmo-inspect", ["--verify", ties.path])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let diff = try runTool("mmo-diff", [a.path, ties.path, "--json"])
        XCTAssertEqual(diff.status, 0, diff.stderr)
        let merged = try Checkpoint.open(ties)
        XCTAssertEqual(merged.state.lineage.parents?.map(\.path), [b.path, b.path, a.path], "inputs, then the base")
        XCTAssertEqual(merged.state.lineage.operation, "mmo-merge --method ties --density 0.3 --lambda 0.8 --base \(a.path) --keep-optimizer \(b.path) \(b.path)")
        assertIdentical(try tensors(b, prefix: "optim/"), try tensors(ties, prefix: "optim/"), "ties keeps the first input's moments")
        // A tensor of the output: base + 0.8·trim(δ) with ~30% of each delta kept.
        let name = "model/bert/bert.encoder.layer.0.attention.self.query.weight"
        let base = try tensors(a)[name]!, x = try tensors(b)[name]!, y = try tensors(ties)[name]!
        let changed = zip(base, y).filter { $0 != $1 }.count
        XCTAssertEqual(Double(changed) / Double(base.count), 0.3, accuracy: 0.02)
        for i in base.indices where y[i] != base[i] {
            XCTAssertEqual(y[i], base[i] + 0.8 * (x[i] - base[i]), accuracy: 1e-6)
        }
    }

    // MARK: - Refusals

    func testIncompatibleInputsAreRefusedNamingTheField() throws {
        let run = try SharedRuns.tiny, folder = try temporaryFolder(self)
        let a = run.appendingPathComponent("last.mmo")
        let narrow = try trainTiny(into: folder.appendingPathComponent("narrow")) {
            $0.models[0].hiddenSize = 32
            $0.training.maxSteps = 2
        }.appendingPathComponent("last.mmo")
        var result = try runTool("mmo-merge", ["--method", "uniform", a.path, narrow.path, "-o", folder.appendingPathComponent("x.mmo").path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains(narrow.path) && result.stderr.contains("model 'bert' has hiddenSize 32 where the first input has 64"), result.stderr)

        let relabelled = try rewritten(a, to: folder.appendingPathComponent("labels.mmo")) { $0.data.labelNames = ["neg", "pos"] }
        result = try runTool("mmo-merge", ["--method", "uniform", a.path, relabelled.path, "-o", folder.appendingPathComponent("x.mmo").path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("labels are neg, pos"), result.stderr)

        // Another seed draws other synthetic sentences: other token ids, so no soup.
        let other = try SharedRuns.tinySeed8.appendingPathComponent("last.mmo")
        result = try runTool("mmo-merge", ["--method", "uniform", a.path, other.path, "-o", folder.appendingPathComponent("x.mmo").path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("tokenizer word"), result.stderr)

        let fewer = try rewritten(a, to: folder.appendingPathComponent("fewer.mmo")) { $0.models.removeLast() }
        result = try runTool("mmo-merge", ["--method", "uniform", a.path, fewer.path, "-o", folder.appendingPathComponent("x.mmo").path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("its models are bert, gpt2, the first input's are bert, gpt2, roberta"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("x.mmo").path), "nothing written")
    }

    func testDamagedInputsAndBadUsageExitTwoNamingTheFile() throws {
        let run = try SharedRuns.tiny, folder = try temporaryFolder(self)
        let a = run.appendingPathComponent("step-000010.mmo"), b = run.appendingPathComponent("step-000012.mmo")
        let out = folder.appendingPathComponent("x.mmo")
        let truncated = try corruptedCopy(of: b, to: folder.appendingPathComponent("truncated.mmo")) { $0 = $0.prefix($0.count / 2) }
        var result = try runTool("mmo-merge", ["--method", "uniform", a.path, truncated.path, "-o", out.path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains(truncated.path), result.stderr)

        // A flipped byte inside a blob passes open (index and header are intact) and fails the
        // checksum when that tensor is read.
        let blob = try XCTUnwrap(try Checkpoint.open(b).reader.blob(named: "model/gpt2/transformer.wte.weight"))
        let flipped = try corruptedCopy(of: b, to: folder.appendingPathComponent("flipped.mmo")) { $0[blob.region.offset + 100] ^= 0x40 }
        result = try runTool("mmo-merge", ["--method", "uniform", a.path, flipped.path, "-o", out.path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains(flipped.path) && result.stderr.contains("model/gpt2/transformer.wte.weight"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))

        for (arguments, message) in [
            (["--method", "sync", a.path, b.path], "exactly one input"),
            (["--method", "uniform", "--t", "0.5", a.path, b.path], "--t applies to --method slerp only"),
            (["--method", "ties", a.path], "--density"),
            (["--method", "ties", "--density", "0.5", a.path], "--base"),
            (["--method", "weighted", "--weights", "1,x", a.path, b.path], "'x' is not a number"),
            (["--method", "uniform", a.path, folder.appendingPathComponent("missing.mmo").path], "missing.mmo: no such file"),
            (["--method", "uniform", "--model", "t5", a.path, b.path], "has no model 't5'"),
        ] {
            result = try runTool("mmo-merge", arguments + ["-o", out.path])
            XCTAssertEqual(result.status, 2, "\(arguments)")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        // --keep-optimizer on a file without moments.
        XCTAssertEqual(try runTool("mmo-merge", ["--method", "uniform", a.path, b.path, "-o", out.path]).status, 0)
        result = try runTool("mmo-merge", ["--method", "uniform", "--keep-optimizer", a.path, out.path, "-o", folder.appendingPathComponent("y.mmo").path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("\(out.path): model 'bert' has no optimizer moments"), result.stderr)
    }

    // MARK: - Resume

    func testAMergedFileWithMomentsResumes() throws {
        let run = try SharedRuns.tiny, folder = try temporaryFolder(self)
        let a = run.appendingPathComponent("step-000010.mmo"), b = run.appendingPathComponent("step-000012.mmo")
        let merged = folder.appendingPathComponent("soup.mmo")
        var result = try runTool("mmo-merge", ["--method", "uniform", "--keep-optimizer", a.path, b.path, "-o", merged.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let continued = folder.appendingPathComponent("continued")
        result = try runTool("mmo-train", ["--resume", merged.path, "--max-steps", "12", "--run-dir", continued.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let last = try Checkpoint.open(continued.appendingPathComponent("last.mmo"))
        XCTAssertEqual(last.state.progress.step, 12, "two more steps after the first input's step 10")
        XCTAssertEqual(last.state.lineage.parent?.contentHash, try Checkpoint.open(merged).reader.contentHashHex)
        let verify = try runTool("mmo-inspect", ["--verify", continued.appendingPathComponent("last.mmo").path])
        XCTAssertEqual(verify.status, 0, verify.stderr)
    }
}
