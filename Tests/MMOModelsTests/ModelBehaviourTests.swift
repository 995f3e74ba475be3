// What the models promise besides correct gradients: no allocation in steady state, buffer
// reuse, accumulation, dropout on/off and reproducibility, padding invariance, Hugging Face
// initialisation, and clear errors for bad configs and batches.
import CMallocCounter
import MMOCore
import XCTest
@testable import MMOModels

final class ModelBehaviourTests: XCTestCase {
    override func setUp() { BLAS.setThreads(1) }

    private func activationAllocations(_ model: any SequenceClassifier) -> Int {
        if let m = model as? EncoderSequenceClassifier { return m.activationAllocations }
        if let m = model as? GPT2ForSequenceClassification { return m.activationAllocations }
        return -1
    }

    func testSteadyStateForwardBackwardAllocatesNothing() throws {
        guard mmo_allocation_counting_available() != 0 else { throw XCTSkip("allocation counting needs glibc") }
        // The counter sees Swift allocations: an array of 100 Ints must register.
        let before = mmo_allocation_count(), beforeHere = mmo_thread_allocation_count()
        let probe = [Int](repeating: 7, count: 100 + Int(before % 3))
        XCTAssertGreaterThan(mmo_allocation_count(), before, "the allocation counter is not wired in")
        XCTAssertGreaterThan(mmo_thread_allocation_count(), beforeHere, "the per-thread counter is not wired in")
        XCTAssertEqual(probe.count > 0, true)

        BLAS.setThreads(2)
        defer { BLAS.setThreads(1) }
        for family in ModelFamily.allCases {
            var config = tinyConfig(family, dropout: 0.1)
            config.hiddenSize = 32
            config.numHeads = 4
            config.intermediateSize = 64
            let model = try makeModel(config)
            let big = tinyBatch(config, sequenceLength: 6), small = tinyBatch(config, sequenceLength: 4)
            _ = model.forward(big, training: true)  // warm-up: buffers for the largest shape
            model.backward()
            // The models run on this thread (OpenBLAS's workers use their preallocated buffers).
            let start = mmo_thread_allocation_count()
            for i in 0..<3 {  // (not `for batch in [...]`: array iteration allocates in debug builds)
                let batch = i == 1 ? big : small
                _ = model.forward(batch, training: true)
                model.backward()
                _ = model.forward(batch, training: false)
            }
            let allocated = mmo_thread_allocation_count() - start
            XCTAssertEqual(allocated, 0, "\(family): steady-state forward + backward allocated \(allocated) times")
            XCTAssertEqual(activationAllocations(model), 1, "\(family): activation memory was laid out once")
        }
    }

    func testLanguageModelStepsAllocateNothing() throws {
        guard mmo_allocation_counting_available() != 0 else { throw XCTSkip("allocation counting needs glibc") }
        for family in ModelFamily.allCases {
            var config = tinyConfig(family, dropout: 0.1)
            config.objective = ModelObjective.languageModel(for: family)
            config.numLabels = 0
            let model = try MMOModels.makeModel(config: config, seed: 3)
            let big = tinyBatch(config, sequenceLength: 5), small = tinyBatch(config, sequenceLength: 3)
            big.fillTargets([[-100, 4, 7, -100, 2], [6, -100, 12, -100, -100], [9, -100, -100, -100, -100]])
            small.fillTargets([[5, -100, 1], [-100, 8, -100], [3, -100, -100]])
            _ = model.forward(big, training: true)
            model.backward()
            // The models run on this thread (OpenBLAS's workers use their preallocated buffers).
            let start = mmo_thread_allocation_count()
            for i in 0..<3 {
                let batch = i == 1 ? big : small
                _ = model.forward(batch, training: true)
                model.backward()
                _ = model.forward(batch, training: false)
            }
            let allocated = mmo_thread_allocation_count() - start
            XCTAssertEqual(allocated, 0, "\(family) \(config.objective): steady-state LM step allocated \(allocated) times")
        }
    }

    func testLargerBatchGrowsMemoryOnceAndSmallerReuses() throws {
        let config = tinyConfig(.bert)
        let model = try makeModel(config)
        _ = model.forward(tinyBatch(config, sequenceLength: 4), training: true)
        XCTAssertEqual(activationAllocations(model), 1)
        _ = model.forward(tinyBatch(config, sequenceLength: 3), training: true)
        XCTAssertEqual(activationAllocations(model), 1)
        _ = model.forward(tinyBatch(config, sequenceLength: 7), training: true)
        XCTAssertEqual(activationAllocations(model), 2)
        _ = model.forward(tinyBatch(config, sequenceLength: 5), training: true)
        XCTAssertEqual(activationAllocations(model), 2)
    }

    func testBackwardAccumulatesAcrossMicroBatches() throws {
        for family in ModelFamily.allCases {
            let config = tinyConfig(family)
            let model = try makeModel(config)
            let batch = tinyBatch(config)
            model.parameters.zeroGradients()
            _ = model.forward(batch, training: true)
            model.backward()
            let once = model.parameters.gradients.array
            _ = model.forward(batch, training: true)
            model.backward()
            let twice = model.parameters.gradients.array
            XCTAssertGreaterThan(once.map(abs).max()!, 0)
            for i in 0..<once.count { XCTAssertEqual(twice[i], 2 * once[i], accuracy: 1e-6 * max(1, abs(once[i]))) }
        }
    }

    func testDropoutOnlyInTrainingAndReproducible() throws {
        for family in ModelFamily.allCases {
            let config = tinyConfig(family, dropout: 0.3)
            let model = try makeModel(config)
            var plain = config
            plain.hiddenDropout = 0
            plain.attentionDropout = 0
            let reference = try makeModel(plain)
            reference.parameters.values.copy(from: model.parameters.values)
            let batch = tinyBatch(config)
            let rngBefore = model.dropoutRNG.state
            let evalLoss = model.forward(batch, training: false)
            XCTAssertEqual(model.dropoutRNG.state, rngBefore, "\(family): eval draws no dropout masks")
            XCTAssertEqual(evalLoss, reference.forward(batch, training: true), "\(family): eval = no dropout")
            let start = model.dropoutRNG
            let trainLoss = model.forward(batch, training: true)
            XCTAssertNotEqual(model.dropoutRNG.state, rngBefore)
            XCTAssertNotEqual(trainLoss, evalLoss, "\(family): dropout 0.3 changes the loss")
            let secondDraw = model.forward(batch, training: true)
            XCTAssertNotEqual(secondDraw, trainLoss, "\(family): the stream moved on, new masks")
            model.dropoutRNG = start
            XCTAssertEqual(model.forward(batch, training: true), trainLoss, "\(family): same stream state, same loss")
        }
    }

    func testExtraPaddingChangesNothing() throws {
        // Padded keys are masked, positions of real tokens do not move, and the pooled token is
        // token 0 (BERT, RoBERTa) or the last real one (GPT-2): more padding, same logits.
        for family in ModelFamily.allCases {
            let config = tinyConfig(family)
            let model = try makeModel(config)
            _ = model.forward(tinyBatch(config, sequenceLength: 5), training: false)
            let short = Array(UnsafeBufferPointer(start: model.logits, count: 9))
            let padded = tinyBatch(config, sequenceLength: 8)
            _ = model.forward(padded, training: false)
            let long = Array(UnsafeBufferPointer(start: model.logits, count: 9))
            XCTAssertLessThanOrEqual(relativeMaxError(long, short), 1e-5, "\(family)")
            // …but a real token does matter.
            padded.inputIDs[1] = (padded.inputIDs[1] + 1) % 13 == Int32(config.padTokenID) ? (padded.inputIDs[1] + 2) % 13 : (padded.inputIDs[1] + 1) % 13
            _ = model.forward(padded, training: false)
            let changed = Array(UnsafeBufferPointer(start: model.logits, count: 3))
            XCTAssertGreaterThan(relativeMaxError(changed, Array(short[0..<3])), 1e-4, "\(family): token 1 of sequence 0 matters")
        }
    }

    func testHuggingFaceInitialisation() throws {
        for family in ModelFamily.allCases {
            let config = ModelConfig(
                family: family, vocabSize: 300, hiddenSize: 64, numLayers: 3, numHeads: 4, intermediateSize: 256,
                maxPositions: 130, numLabels: 2)
            let model = try makeModel(config, seed: 5)
            let store = model.parameters
            for (i, spec) in store.specs.enumerated() {
                let v = store.valueArray(i)
                let isBias = spec.role.hasSuffix(".bias")
                if spec.kind == .norm {
                    XCTAssert(v.allSatisfy { $0 == (isBias ? 0 : 1) }, "\(spec.name): LayerNorm ones / zeros")
                } else if isBias {
                    XCTAssert(v.allSatisfy { $0 == 0 }, "\(spec.name): zero bias")
                } else {
                    var rows = (0..<spec.shape[0]).map { $0 }
                    // Padding rows of word (BERT, RoBERTa) and position (RoBERTa) tables are zero.
                    let padded = family != .gpt2 && (spec.role == "embedding.word" || (family == .roberta && spec.role == "embedding.position"))
                    if padded {
                        let w = spec.shape[1], pad = config.padTokenID
                        XCTAssert(v[(pad * w)..<((pad + 1) * w)].allSatisfy { $0 == 0 }, "\(spec.name): padding row zero")
                        rows.removeAll { $0 == pad }
                    }
                    let values = rows.flatMap { r in v[(r * (v.count / spec.shape[0]))..<((r + 1) * (v.count / spec.shape[0]))] }
                    let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
                    let std = (values.reduce(0.0) { $0 + pow(Double($1) - mean, 2) } / Double(values.count)).squareRoot()
                    let residual = family == .gpt2 && (spec.role == "attention.output.weight" || spec.role == "ffn.out.weight")
                    let expected = residual ? 0.02 / (2.0 * 3).squareRoot() : 0.02
                    // ≥ 128 samples: the std estimate is within ~13 % at 5 standard errors.
                    XCTAssertEqual(std, expected, accuracy: expected * (values.count >= 1000 ? 0.1 : 0.35), "\(spec.name) std")
                    XCTAssertEqual(mean, 0, accuracy: 5 * expected / Double(values.count).squareRoot(), "\(spec.name) mean")
                }
            }
            let again = try makeModel(config, seed: 5), other = try makeModel(config, seed: 6)
            XCTAssertEqual(again.parameters.values.array, store.values.array, "\(family): same seed, same weights")
            XCTAssertNotEqual(other.parameters.values.array, store.values.array, "\(family): other seed, other weights")
        }
    }

    func testInvalidConfigsAndBatchesThrowClearErrors() throws {
        var bad = tinyConfig(.bert)
        bad.numHeads = 3
        XCTAssertThrowsError(try makeModel(bad)) { error in
            XCTAssertEqual(error as? ModelError, .invalidConfig(field: "numHeads", message: "must be positive and divide hiddenSize 8 (got 3)"))
        }
        bad = tinyConfig(.roberta)
        bad.maxPositions = 2
        XCTAssertThrowsError(try makeModel(bad)) { XCTAssertTrue("\($0)".contains("maxPositions")) }
        var initRNG = PhiloxRNG(key: 1)
        XCTAssertThrowsError(try GPT2ForSequenceClassification(config: tinyConfig(.bert), initRNG: &initRNG, dropoutRNG: initRNG)) {
            XCTAssertEqual($0 as? ModelError, .wrongFamily(expected: .gpt2, got: .bert))
        }

        let config = tinyConfig(.gpt2)
        let model = try makeModel(config)
        let batch = tinyBatch(config)
        XCTAssertNoThrow(try model.validate(batch))
        batch.inputIDs[2] = 13
        XCTAssertThrowsError(try model.validate(batch)) { XCTAssertTrue("\($0)".contains("outside the vocabulary")) }
        batch.inputIDs[2] = 4
        batch.labels[1] = 3
        XCTAssertThrowsError(try model.validate(batch)) { XCTAssertTrue("\($0)".contains("label 3")) }
        let long = TokenBatch(maxBatchSize: 1, maxSequenceLength: 9)
        long.fill(ids: [[1, 2, 3]], labels: [0], sequenceLength: 9, padID: 0)
        XCTAssertThrowsError(try model.validate(long)) { XCTAssertTrue("\($0)".contains("exceeds the model's maximum 8")) }
    }
}
