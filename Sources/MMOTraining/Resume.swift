// `mmo-train --resume`: rebuild a run from a checkpoint. The config comes from the file; only
// the run's length, checkpoint cadence and thread count may change. Models, data, seed and
// optimizer settings that differ are refused with the field named, before anything is written.
import Foundation
import MMOCore
import MMOData
import MMOFormat
import MMOModels
import MMOOptim
import MMORun

extension Trainer {
    /// Opens `checkpoint` and rebuilds the run exactly as it was after its last step.
    ///
    /// - Parameters:
    ///   - configPath: optional config that must agree with the checkpoint's on everything but
    ///     the `training` section (whose length and cadence fields are then taken).
    ///   - runDirectory: where to continue (default: the checkpoint's folder).
    public static func resume(
        checkpoint: URL, configPath: String? = nil, overrides: RunOverrides = RunOverrides(), runDirectory: URL? = nil
    ) throws -> Trainer {
        let file = try Checkpoint.open(checkpoint)
        let path = file.path
        let state = file.state

        // The config: the checkpoint's, with permitted changes only.
        var config = state.run
        if let configPath {
            let other = try RunConfig.load(path: configPath)
            try requireSame(config, other, file: configPath)
            config.training = other.training
        }
        if let seed = overrides.seed, seed != config.seed {
            throw TrainingError.incompatibleResume(field: "--seed", reason: "the checkpoint's run uses seed \(config.seed); a resumed run keeps it")
        }
        config = overrides.applied(to: config)
        try config.validate(file: path)

        // Data and tokenizer: the tokenizer is the saved one; the data must be what it was.
        let data = try PreparedData.load(config, tokenizer: state.tokenizer, labels: state.data.labelNames)
        for (split, set) in [("train", data.train), ("validation", data.validation)]
        where state.data.fingerprint[split] != set.fingerprint {
            throw TrainingError.incompatibleResume(
                field: "data.\(split)",
                reason: "the \(split) data differs from the data this checkpoint was trained on (fingerprint \(set.fingerprint), saved \(state.data.fingerprint[split] ?? "none")); restore the original files")
        }

        // The whole saved state against the run's config and data, before anything is built.
        try state.validate(config: config, data: data, path: path)
        try ConfigLimits.checkMemory(
            architectures: state.models.map(\.config), batchSize: config.training.batchSize, maxLength: config.data.maxLength, file: path)

        // Models: the saved architectures, parameters read blob by blob with shapes checked.
        var architectures = data.modelConfigs(config)
        // (`state.validate` has checked one record per model of the run, names and families.)
        var models: [any TrainableModel] = []
        var maskingRNGs: [PhiloxRNG] = []
        for (i, record) in state.models.enumerated() {
            // A model from an `init` source has the source's architecture, recorded at the start
            // (the source itself is not read again: the checkpoint holds everything).
            if record.initialization != nil { architectures[i] = record.config }
            guard record.config == architectures[i], record.name == config.models[i].name else {
                throw TrainingError.incompatibleResume(
                    field: "models[\(i)]", reason: "the checkpoint's model '\(record.name)' has another architecture than the config builds")
            }
            let model = try makeModel(config: record.config, seed: modelSeed(config.seed, name: record.name))
            try file.readParameters(model: record.name, into: model.parameters)
            guard let rng = state.rng["dropout/\(record.name)"] else {
                throw TrainingError.checkpoint(path: path, reason: "no RNG state 'dropout/\(record.name)'")
            }
            model.dropoutRNG = PhiloxRNG(state: rng)
            models.append(model)
            // Masking draws continue where they stopped (`state.validate` checked the stream).
            let masking = MaskingStreams.training(model: record.name)
            maskingRNGs.append(state.rng[masking].map { PhiloxRNG(state: $0) } ?? PhiloxRNG(seed: config.seed, stream: masking))
        }

        var progress = state.progress
        progress.totalSteps = try totalSteps(config, trainCount: data.train.count)
        if progress.totalSteps < progress.step {
            throw TrainingError.incompatibleResume(
                field: "--max-steps / --epochs",
                reason: "the checkpoint is at step \(progress.step), past the requested total of \(progress.totalSteps) steps")
        }
        BLAS.setThreads(config.training.blasThreads)
        var warnings: [String] = []
        // What decides the bits is the BLAS thread count each model's products use: `threads`,
        // or 1 with `concurrency: models` (so switching between `models` and `sequential` with
        // `threads: 1` keeps a run exact).
        if config.training.blasThreads != state.threads {
            warnings.append(
                "resuming with \(config.training.blasThreads) BLAS threads per model, the run used \(state.threads); results will not be bit-identical to an uninterrupted run")
        }
        let folder = runDirectory ?? checkpoint.deletingLastPathComponent()
        // Continuing into the checkpoint's own folder rewinds that run; another folder that holds
        // a run would have its metrics and checkpoints overwritten.
        func canonical(_ url: URL) -> String { url.resolvingSymlinksInPath().standardizedFileURL.path }
        let otherRun = RunDirectory(url: folder).lastURL
        if canonical(folder) != canonical(checkpoint.deletingLastPathComponent()), FileManager.default.fileExists(atPath: otherRun.path) {
            throw TrainingError.io(
                path: folder.path, reason: "already holds another run (last.mmo); choose an empty --run-dir or omit it to continue in \(checkpoint.deletingLastPathComponent().path)")
        }
        let trainer = try Trainer(
            config: config, run: RunDirectory(url: folder), data: data, models: models,
            tokenizers: state.models.map { state.tokenizer(of: $0) }, initializations: state.models.map(\.initialization),
            progress: progress, maskingRNGs: maskingRNGs)
        trainer.warnings = warnings
        try trainer.restoreOptimizer(state.optimizer, from: file)
        trainer.lastEval = state.metrics.lastEval
        trainer.best = state.metrics.best
        trainer.parent = CheckpointState.Lineage.Parent(
            contentHash: file.reader.contentHashHex, path: lineageName(of: checkpoint, step: state.progress.step))
        return trainer
    }

    /// The name a resumed-from file is recorded under: `last.mmo` and `best-*.mmo` are links that
    /// move on, so when the step file they point at is present, its stable name is used instead.
    static func lineageName(of checkpoint: URL, step: Int) -> String {
        let stepURL = RunDirectory(url: checkpoint.deletingLastPathComponent()).stepURL(step)
        let fm = FileManager.default
        guard stepURL.lastPathComponent != checkpoint.lastPathComponent,
            let a = try? fm.attributesOfItem(atPath: checkpoint.path)[.systemFileNumber] as? NSNumber,
            let b = try? fm.attributesOfItem(atPath: stepURL.path)[.systemFileNumber] as? NSNumber, a == b
        else { return checkpoint.lastPathComponent }
        return stepURL.lastPathComponent
    }

    /// Refuses a config that differs from the checkpoint's outside the `training` section,
    /// naming the first differing field (`models[0].hiddenSize`) and both values.
    static func requireSame(_ saved: RunConfig, _ given: RunConfig, file: String) throws {
        func refuse(_ field: String, _ a: Any, _ b: Any) -> TrainingError {
            let difference = firstDifference(a, b, path: field) ?? (field, "\(a)", "\(b)")
            return .incompatibleResume(
                field: difference.path,
                reason: "\(file) has \(difference.given) where the checkpoint has \(difference.saved); only the training section may change on resume")
        }
        if saved.seed != given.seed { throw refuse("seed", saved.seed, given.seed) }
        // The objective lives in the training section but decides the models' heads and data.
        if saved.training.objective != given.training.objective {
            throw refuse("training.objective", saved.training.objective as Any, given.training.objective as Any)
        }
        if saved.models != given.models { throw refuse("models", saved.models, given.models) }
        if saved.data != given.data { throw refuse("data", saved.data, given.data) }
        var a = saved.optimizer, b = given.optimizer
        a.totalSteps = 0
        b.totalSteps = 0
        if a != b { throw refuse("optimizer", a, b) }
    }

    /// The first leaf where two values of the same type differ (struct fields and array elements
    /// walked with `Mirror`), as a dotted path and both values.
    static func firstDifference(_ saved: Any, _ given: Any, path: String) -> (path: String, saved: String, given: String)? {
        let a = Mirror(reflecting: saved), b = Mirror(reflecting: given)
        let isLeaf = a.children.isEmpty || a.displayStyle == .optional || a.displayStyle == .enum
        if isLeaf || b.children.isEmpty {
            func text(_ value: Any) -> String {
                let m = Mirror(reflecting: value)
                if m.displayStyle == .optional { return m.children.first.map { "\($0.value)" } ?? "no value" }
                return "\(value)"
            }
            return text(saved) == text(given) ? nil : (path, text(saved), text(given))
        }
        if a.displayStyle == .collection, a.children.count != b.children.count {
            return (path, "\(a.children.count) entries", "\(b.children.count) entries")
        }
        for (index, (x, y)) in zip(a.children, b.children).enumerated() {
            let child = x.label.map { "\(path).\($0)" } ?? "\(path)[\(index)]"
            if let found = firstDifference(x.value, y.value, path: child) { return found }
        }
        return nil
    }

    /// Restores the optimizer from its state document and the per-tensor moment blobs.
    func restoreOptimizer(_ state: OptimizerState, from file: Checkpoint) throws {
        var flat: [String: FloatBuffer] = [:]
        for (m, model) in models.enumerated() {
            let store = model.parameters
            let names = optimizer.momentTensorNames(model: m)
            let first = FloatBuffer(count: store.totalCount)
            let second = FloatBuffer(count: store.totalCount)
            try file.readMoments(model: self.names[m], layout: store, first: first, second: second)
            flat[names.expAvg] = first
            flat[names.expAvgSq] = second
        }
        do {
            try optimizer.restore(state) { name in
                flat[name].map { UnsafeBufferPointer(start: $0.pointer, count: $0.count) }
            }
        } catch {
            throw TrainingError.checkpoint(path: file.path, reason: "\(error)")
        }
    }
}
