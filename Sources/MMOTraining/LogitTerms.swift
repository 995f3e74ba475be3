// Loss terms on the logits that couple a model to others: knowledge distillation from a frozen
// teacher (Hinton et al. 2015) and deep mutual learning between the run's models (Zhang et al.
// 2018). Both only add to each model's `logitGradient` between its forward and its backward, so
// the models themselves are unchanged; the trainer runs every forward of a micro-batch first.
import Foundation
import MMOCore
import MMOData
import MMOModels
import MMORun

/// The teacher and the coefficients of the run's logit terms. Layout fixed at construction;
/// `add` allocates nothing.
final class LogitTerms {
    let distillation: DistillationConfig?
    let mutualLearning: MutualLearningConfig?
    /// The frozen teacher (evaluation mode: no dropout, never updated, not saved).
    let teacher: SequenceClassifier?
    /// The run's training examples encoded with the teacher family's special tokens.
    let teacherSet: EncodedDataset?
    let teacherBatch: TokenBatch?
    /// Per model: the sum of its extra terms over the step's micro-batches.
    let extraLosses: UnsafeMutablePointer<Float>
    let modelCount: Int

    /// Loads the teacher of `config.training.distillation` (if any), checking that it reads the
    /// run's vocabulary and predicts the run's labels.
    init(config: RunConfig, data: PreparedData, modelCount: Int) throws {
        distillation = config.training.distillation
        mutualLearning = config.training.mutualLearning
        self.modelCount = modelCount
        extraLosses = .allocate(capacity: max(1, modelCount))
        extraLosses.initialize(repeating: 0, count: max(1, modelCount))
        guard let kd = distillation else {
            teacher = nil
            teacherSet = nil
            teacherBatch = nil
            return
        }
        let path = kd.checkpointPath(seed: config.seed)
        func refuse(_ field: String, _ reason: String) -> ConfigError {
            ConfigError(file: "config", field: "training.distillation.\(field)", reason: "\(path): \(reason)")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw refuse("checkpoint", "no such file; train the teacher first (an experiment orders a teacher variant's runs first)")
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.open(URL(fileURLWithPath: path))
        } catch {
            throw refuse("checkpoint", "cannot be read as a teacher (\(error))")
        }
        let state = checkpoint.state
        guard let record = state.model(named: kd.model) else {
            throw refuse("model", "has no model '\(kd.model)'; it holds \(state.models.map(\.name).joined(separator: ", "))")
        }
        // A teacher with a tokenizer of its own (initialised from a Hugging Face folder or another
        // checkpoint, `models[].init`) reads the texts with it; any other reads the run's words.
        if record.tokenizer == nil, state.tokenizer != data.tokenizer {
            throw refuse(
                "checkpoint",
                "the teacher was trained with another tokenizer (vocabulary \(state.tokenizer.vocabularySize) words, this run \(data.tokenizer.vocabularySize)); a teacher must read the run's vocabulary: train it on the same data settings")
        }
        if state.data.labelNames != data.train.labelNames {
            throw refuse(
                "checkpoint",
                "the teacher predicts the labels \(state.data.labelNames), this run \(data.train.labelNames); a teacher must have the run's label set")
        }
        let model: SequenceClassifier
        do {
            model = try checkpoint.loadModel(kd.model)
        } catch {
            throw refuse("model", "cannot be loaded (\(error))")
        }
        if model.config.maxSequenceLength < config.data.maxLength {
            throw refuse("checkpoint", "the teacher reads at most \(model.config.maxSequenceLength) tokens, this run \(config.data.maxLength) (data.maxLength)")
        }
        teacher = model
        switch record.tokenizer {
        case nil:
            teacherSet = EncodedDataset(data.train, tokenizer: data.tokenizer, scheme: SpecialTokenScheme(record.family))
        case .pretrained(let t)?:
            do {
                teacherSet = EncodedDataset(
                    data.train, tokenizer: .pretrained(try t.with(maxLength: config.data.maxLength)), padID: Int32(model.config.padTokenID))
            } catch {
                throw refuse("checkpoint", "the teacher's tokenizer cannot be rebuilt (\(error))")
            }
        case .word(let t, let scheme)?:
            let words = try WordTokenizer(words: t.words, lowercase: t.lowercase, maxLength: config.data.maxLength)
            teacherSet = EncodedDataset(data.train, tokenizer: .word(words, scheme), padID: Int32(model.config.padTokenID))
        }
        teacherBatch = TokenBatch(maxBatchSize: config.training.batchSize, maxSequenceLength: config.data.maxLength)
    }

    deinit { extraLosses.deallocate() }

    /// Runs the teacher on the examples `indices` (on whichever lane the trainer gives it).
    func runTeacher(_ indices: ArraySlice<Int>) {
        guard let teacher, let teacherSet, let teacherBatch else { return }
        teacherSet.fill(teacherBatch, indices: indices)
        _ = teacher.forward(teacherBatch, training: false)
    }

    /// Zeroes the per-step sums.
    func beginStep() { extraLosses.update(repeating: 0, count: modelCount) }

    /// Adds the terms of one micro-batch of `batchSize` rows to every model's `logitGradient`
    /// and their values to `extraLosses`; after every model's forward (and `runTeacher`), before
    /// any backward. Each model's sum runs over the others in model order: the same bits
    /// whichever lane ran which forward.
    func add(models: [SequenceClassifier], batchSize B: Int) {
        let K = models[0].config.numLabels
        for i in 0..<models.count {
            let model = models[i]
            var extra: Float = 0
            if let kd = distillation, let teacher {
                extra += kd.weight * klDivergenceForward(input: model.logits, target: teacher.logits, temperature: kd.temperature, B: B, K: K)
                klDivergenceBackward(
                    dInput: model.logitGradient, dTarget: nil, input: model.logits, target: teacher.logits, temperature: kd.temperature,
                    B: B, K: K, dLoss: kd.weight)
            }
            if let dml = mutualLearning, models.count > 1 {
                // The peers' distributions are constants (detached), as in Zhang et al.
                let share = dml.weight / Float(models.count - 1)
                for j in 0..<models.count where j != i {
                    extra += share * klDivergenceForward(input: model.logits, target: models[j].logits, temperature: 1, B: B, K: K)
                    klDivergenceBackward(
                        dInput: model.logitGradient, dTarget: nil, input: model.logits, target: models[j].logits, temperature: 1,
                        B: B, K: K, dLoss: share)
                }
            }
            extraLosses[i] += extra
        }
    }
}
