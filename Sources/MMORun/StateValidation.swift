// A checkpoint can pass every checksum and still lie: a state document edited by hand or by a
// buggy tool. Before a resume touches anything, the whole training state is checked against the
// run's config and data — ranges, counts, names, label list, progress against the optimizer — so
// that a bad value ends in an error naming the field, never in a trap deep inside the loop.
import Foundation
import MMOData
import MMOModels
import MMOOptim

extension CheckpointState {
    /// Checks this state against `config` (the run config the resume will use) and `data` (the
    /// run's data, loaded with this state's tokenizer). Throws `TrainingError.checkpoint` naming
    /// the field, its value and what it must be.
    public func validate(config: RunConfig, data: PreparedData, path: String) throws {
        func fail(_ field: String, _ value: Any, _ requirement: String) -> TrainingError {
            .checkpoint(path: path, reason: "state field '\(field)' is \(value); it must be \(requirement) — the file was edited or written by another program; use another checkpoint")
        }
        func require(_ ok: Bool, _ field: String, _ value: Any, _ requirement: String) throws {
            if !ok { throw fail(field, value, requirement) }
        }
        let stepLimit = ConfigLimits.range("training.maxSteps").upperBound
        try require(threads >= 1 && threads <= ConfigLimits.range("training.threads").upperBound, "threads", threads, "a thread count ≥ 1")

        // Progress and the data cursor.
        try require((0...stepLimit).contains(progress.step), "progress.step", progress.step, "in 0…\(stepLimit)")
        try require(progress.totalSteps >= 1, "progress.totalSteps", progress.totalSteps, "≥ 1")
        // Each step consumes at most accumulationSteps batches of at most the largest batch size,
        // so a bound that keeps the counter's growth far from overflow.
        let (perStep, o1) = config.optimizer.accumulationSteps.multipliedReportingOverflow(by: ConfigLimits.range("training.batchSize").upperBound)
        let (seenLimit, o2) = perStep.multipliedReportingOverflow(by: max(progress.step, 0))
        try require(
            progress.examplesSeen >= 0 && (o1 || o2 || progress.examplesSeen <= seenLimit), "progress.examplesSeen", progress.examplesSeen,
            "in 0…\(o1 || o2 ? Int.max : seenLimit) (at most accumulationSteps × \(ConfigLimits.range("training.batchSize").upperBound) examples per step)")
        let batches = (data.train.count + config.training.batchSize - 1) / config.training.batchSize
        try require((0...stepLimit).contains(progress.cursor.epoch), "progress.cursor.epoch", progress.cursor.epoch, "in 0…\(stepLimit)")
        try require(
            (0..<batches).contains(progress.cursor.position), "progress.cursor.position", progress.cursor.position,
            "a batch index in 0…\(batches - 1) (\(data.train.count) examples in batches of \(config.training.batchSize))")

        // Data: what the run trained on.
        try require(data.labelNames == self.data.labelNames, "data.labelNames", self.data.labelNames, "the run's labels \(data.labelNames)")
        try require(self.data.trainCount == data.train.count, "data.trainCount", self.data.trainCount, "\(data.train.count), the training examples")
        try require(
            self.data.validationCount == data.validation.count, "data.validationCount", self.data.validationCount,
            "\(data.validation.count), the validation examples")
        try require(tokenizer.maxLength == config.data.maxLength, "tokenizer.maxLength", tokenizer.maxLength, "data.maxLength = \(config.data.maxLength)")

        // Models.
        try require(models.count == config.models.count, "models", "\(models.count) entries", "\(config.models.count), one per model of the run")
        for (i, record) in models.enumerated() {
            let entry = config.models[i]
            try require(record.name == entry.name, "models[\(i)].name", record.name, "'\(entry.name)' as in the run config")
            try require(record.family == entry.family, "models[\(i)].family", record.family.rawValue, entry.family.rawValue)
            try require(record.weight == entry.weight, "models[\(i)].weight", record.weight, "\(entry.weight) as in the run config")
            let own = self.tokenizer(of: record)
            if record.tokenizer == nil {
                try require(
                    record.config.vocabSize == own.vocabularySize, "models[\(i)].config.vocabSize", record.config.vocabSize,
                    "the tokenizer's \(own.vocabularySize)")
            } else {
                // A pretrained vocabulary may be smaller than its embedding table (padded rows).
                try require(
                    record.config.vocabSize >= own.vocabularySize, "models[\(i)].config.vocabSize", record.config.vocabSize,
                    "at least its tokenizer's \(own.vocabularySize)")
                try require(
                    own.maxLength == config.data.maxLength, "models[\(i)].tokenizer.maxLength", own.maxLength, "data.maxLength = \(config.data.maxLength)")
            }
            try require(
                (0..<record.config.vocabSize).contains(record.config.padTokenID), "models[\(i)].config.padTokenID", record.config.padTokenID,
                "a token id below vocabSize \(record.config.vocabSize)")
            try require(
                config.data.maxLength <= record.config.maxSequenceLength, "models[\(i)].config.maxPositions", record.config.maxPositions,
                "enough for data.maxLength = \(config.data.maxLength)")
            try require(
                (record.initialization != nil) == (entry.initFrom != nil), "models[\(i)].init", record.initialization == nil ? "absent" : "present",
                entry.initFrom == nil ? "absent (the run config sets no init)" : "present (the run config sets init)")
            try require(
                record.config.numLabels == data.labelNames.count, "models[\(i)].config.numLabels", record.config.numLabels,
                "\(data.labelNames.count), the number of labels")
            let count: Int
            do {
                count = try parameterSpecs(config: record.config).reduce(0) { $0 + $1.count }
            } catch {
                throw fail("models[\(i)].config", "not buildable", "a valid architecture (\(error))")
            }
            try require(record.parameterCount == count, "models[\(i)].parameterCount", record.parameterCount, "\(count) for its architecture")
            let stream = "dropout/\(record.name)"
            guard let state = rng[stream] else { throw fail("rng", "missing '\(stream)'", "a state per model") }
            try require((0...4).contains(state.used), "rng.\(stream).used", state.used, "in 0…4")
            if record.config.objective == .mlm {
                let masking = MaskingStreams.training(model: record.name)
                guard let m = rng[masking] else { throw fail("rng", "missing '\(masking)'", "a masking stream per masked-LM model") }
                try require((0...4).contains(m.used), "rng.\(masking).used", m.used, "in 0…4")
            }
        }

        // Optimizer scalars against progress.
        let o = optimizer
        try require(o.completedSteps == progress.step, "optimizer.completedSteps", o.completedSteps, "progress.step = \(progress.step)")
        try require(o.microStep == 0, "optimizer.microStep", o.microStep, "0 (checkpoints are written between optimizer steps)")
        try require(o.models.count == models.count, "optimizer.models", "\(o.models.count) entries", "\(models.count), one per model")
        for (i, m) in o.models.enumerated() {
            let field = "optimizer.models[\(i)]"
            try require(m.name == models[i].name, "\(field).name", m.name, "'\(models[i].name)'")
            try require(m.parameterCount == models[i].parameterCount, "\(field).parameterCount", m.parameterCount, "\(models[i].parameterCount)")
            try require((0...o.completedSteps).contains(m.adamSteps), "\(field).adamSteps", m.adamSteps, "in 0…\(o.completedSteps)")
            try require(m.convergenceRate.isFinite && m.convergenceRate > 0 && m.convergenceRate <= 1, "\(field).convergenceRate", m.convergenceRate, "in (0, 1] (Alg. 3 keeps r there)")
            try require(
                m.lossHistory.count <= config.optimizer.convergenceWindow, "\(field).lossHistory", "\(m.lossHistory.count) values",
                "at most convergenceWindow = \(config.optimizer.convergenceWindow)")
            try require(m.lossHistory.allSatisfy(\.isFinite), "\(field).lossHistory", "a non-finite value", "finite losses")
            try require(
                (m.lossHistory.count...max(m.lossHistory.count, o.completedSteps)).contains(m.lossCount), "\(field).lossCount", m.lossCount,
                "between the history's length and the steps done")
            try require((0...o.completedSteps).contains(m.totalSkips), "\(field).totalSkips", m.totalSkips, "in 0…\(o.completedSteps)")
            try require((0...m.totalSkips).contains(m.consecutiveSkips), "\(field).consecutiveSkips", m.consecutiveSkips, "in 0…totalSkips = \(m.totalSkips)")
        }

        // Metrics.
        for (name, e) in metrics.lastEval {
            try require(models.contains { $0.name == name }, "metrics.lastEval", "an entry for '\(name)'", "one of the run's models")
            try require((0...1).contains(e.accuracy), "metrics.lastEval.\(name).accuracy", e.accuracy, "in [0, 1]")
        }
        for (name, b) in metrics.best {
            try require(models.contains { $0.name == name }, "metrics.best", "an entry for '\(name)'", "one of the run's models")
            try require((0...1).contains(b.accuracy), "metrics.best.\(name).accuracy", b.accuracy, "in [0, 1]")
            try require((0...progress.step).contains(b.step), "metrics.best.\(name).step", b.step, "in 0…progress.step = \(progress.step)")
        }
    }
}

extension PreparedData {
    /// Class names of the run (those of the training split).
    public var labelNames: [String] { train.labelNames }
}
