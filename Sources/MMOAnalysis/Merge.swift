// `mmo-merge`: new checkpoints from old ones. Soups across checkpoints (uniform, weighted, the
// greedy soup of Wortsman et al. 2022), offline parameter synchronization inside one checkpoint
// (Alg. 2 through the optimizer's own GroupMixer, so it is bit-identical to a training sync), and
// mergekit's task-vector methods (SLERP, task arithmetic, TIES, DARE).
//
// Memory: inputs are read tensor by tensor into reused scratch buffers and their mapped pages
// released, and only the output is held whole (the writer encodes it from memory). A soup of two
// checkpoints therefore needs the output's parameters (and moments, if kept) plus a few tensors.
// Offline sync holds the one input's parameters, which is what it outputs anyway.
//
// What the output carries: the merged (or copied) tensors, and the state document of the first
// input — progress, run config, RNG streams, optimizer scalars, tokenizer, data record and
// metrics — with its lineage replaced by every input (and the base) with its content hash.
import Foundation
import MMOCore
import MMOData
import MMOFormat
import MMOModels
import MMOOptim
import MMORun

/// Why a merge cannot be made: names the file, model or tensor, and what to do.
public struct MergeError: Error, CustomStringConvertible, Equatable {
    /// The message.
    public var description: String
    /// An error with a message.
    public init(_ message: String) { description = message }
}

/// The merge methods.
public enum MergeMethod: String, Codable, CaseIterable, Sendable {
    case uniform, weighted, greedy, sync, slerp
    case taskArithmetic = "task-arithmetic"
    case ties, dare

    /// Soups average checkpoints of one architecture, moments included when kept.
    public var isSoup: Bool { self == .uniform || self == .weighted || self == .greedy }
    /// Methods that merge deltas against `--base`.
    public var needsBase: Bool { self == .taskArithmetic || self == .ties || self == .dare }
}

/// What to merge and how. Options a method does not use must stay nil (`validate` says so).
public struct MergeOptions: Sendable {
    /// The method.
    public var method: MergeMethod
    /// `weighted`: one weight per input (required); task-vector methods: one weight per input
    /// (default 1 each).
    public var weights: [Double]?
    /// Only these models are merged; the others are copied from the first input. Empty: all.
    public var models: [String] = []
    /// Keep AdamW moments: averaged like the parameters for soups, unchanged for sync (the
    /// optimizer's sync does not touch them), the first input's for SLERP and task vectors.
    public var keepOptimizer = false
    /// `sync`: the coefficient β (default: the run's `optimizer.syncCoefficient`).
    public var beta: Double?
    /// `sync`: the grouping (default: the run's `optimizer.granularity`).
    public var granularity: SharingGranularity?
    /// `slerp`: the interpolation parameter in [0, 1] (0 = the first input).
    public var t: Double?
    /// `ties`, `dare`: the fraction of each delta kept, in (0, 1].
    public var density: Double?
    /// Task-vector methods: scale of the merged delta (mergekit's `lambda`).
    public var lambda: Double?
    /// `dare`: the seed of the drop masks.
    public var seed: UInt64?
    /// Task-vector methods: the checkpoint the deltas are taken against.
    public var base: String?
    /// `greedy`: held-out data (TSV / CSV / JSONL) instead of the run's validation set.
    public var data: String?
    /// zstd level of the output (default: the format's).
    public var compressionLevel: Int?

    /// Options for `method` with every parameter at its default.
    public init(method: MergeMethod) { self.method = method }

    /// Refuses combinations that make no sense for `inputCount` inputs, naming the option.
    public func validate(inputCount: Int) throws {
        func refuse(_ message: String) -> MergeError { MergeError(message) }
        func only(_ name: String, _ present: Bool, _ methods: [MergeMethod]) throws {
            if present && !methods.contains(method) {
                throw refuse("\(name) applies to --method \(methods.map(\.rawValue).joined(separator: ", ")) only, not \(method.rawValue)")
            }
        }
        try only("--weights", weights != nil, [.weighted, .taskArithmetic, .ties, .dare])
        try only("--beta", beta != nil, [.sync])
        try only("--granularity", granularity != nil, [.sync])
        try only("--t", t != nil, [.slerp])
        try only("--density", density != nil, [.ties, .dare])
        try only("--lambda", lambda != nil, [.taskArithmetic, .ties, .dare])
        try only("--seed", seed != nil, [.dare])
        try only("--base", base != nil, [.taskArithmetic, .ties, .dare])
        try only("--data", data != nil, [.greedy])
        switch method {
        case .uniform, .weighted, .greedy:
            if inputCount < 2 { throw refuse("--method \(method.rawValue) averages checkpoints: give at least two inputs, got \(inputCount)") }
        case .sync:
            if inputCount != 1 { throw refuse("--method sync works inside one checkpoint: give exactly one input, got \(inputCount)") }
        case .slerp:
            if inputCount != 2 { throw refuse("--method slerp interpolates between two checkpoints: give exactly two inputs, got \(inputCount)") }
        case .taskArithmetic, .ties, .dare:
            if inputCount < 1 { throw refuse("--method \(method.rawValue) needs at least one input besides --base") }
        }
        if method == .weighted && weights == nil { throw refuse("--method weighted needs --weights w1,w2,… (one per input)") }
        if let weights {
            if weights.count != inputCount {
                throw refuse("--weights has \(weights.count) values for \(inputCount) inputs; give one weight per input, in order")
            }
            if let bad = weights.first(where: { !$0.isFinite }) { throw refuse("--weights: \(bad) is not a finite number") }
            if method == .weighted {
                if weights.contains(where: { $0 < 0 }) { throw refuse("--weights of a weighted soup must be ≥ 0 (got \(weights.map { "\($0)" }.joined(separator: ",")))") }
                if weights.reduce(0, +) <= 0 { throw refuse("--weights sum to 0; give at least one positive weight") }
            }
        }
        if method == .slerp {
            guard let t else { throw refuse("--method slerp needs --t in [0, 1] (0 gives the first input, 1 the second)") }
            if !(t >= 0 && t <= 1) { throw refuse("--t \(t) is outside [0, 1]") }
        }
        if method == .ties || method == .dare {
            guard let density else { throw refuse("--method \(method.rawValue) needs --density in (0, 1], the fraction of each delta kept (e.g. 0.5)") }
            if !(density > 0 && density <= 1) { throw refuse("--density \(density) is outside (0, 1]") }
        }
        if let lambda, !lambda.isFinite { throw refuse("--lambda \(lambda) is not a finite number") }
        if let beta, !(beta >= 0 && beta <= 1) { throw refuse("--beta \(beta) is outside [0, 1] (1 fully averages compatible parameters)") }
        if method.needsBase && base == nil { throw refuse("--method \(method.rawValue) merges deltas against a base: give --base CKPT (e.g. the run's first checkpoint)") }
        if Set(models).count != models.count { throw refuse("--model lists a model twice") }
    }

    /// The command as recorded in the output's lineage (`operation`).
    public func operation(inputs: [String]) -> String {
        var parts = ["mmo-merge", "--method", method.rawValue]
        if let weights { parts += ["--weights", weights.map { "\($0)" }.joined(separator: ",")] }
        if let beta { parts += ["--beta", "\(beta)"] }
        if let granularity { parts += ["--granularity", granularity.rawValue] }
        if let t { parts += ["--t", "\(t)"] }
        if let density { parts += ["--density", "\(density)"] }
        if let lambda { parts += ["--lambda", "\(lambda)"] }
        if let seed { parts += ["--seed", "\(seed)"] }
        if let base { parts += ["--base", base] }
        if let data { parts += ["--data", data] }
        for model in models { parts += ["--model", model] }
        if keepOptimizer { parts.append("--keep-optimizer") }
        return (parts + inputs).joined(separator: " ")
    }
}

/// One model of the output.
public struct MergedModel: Codable, Sendable {
    /// The model's name.
    public var name: String
    /// Whether it was merged (false: copied from the first input, see `--model`).
    public var merged: Bool
    /// Parameter tensors and elements.
    public var tensors: Int
    public var parameters: Int
}

/// One ingredient of a greedy soup, evaluated alone.
public struct GreedyIngredient: Codable, Sendable {
    /// The input's path, as given.
    public var path: String
    /// Held-out accuracy and loss of this input's model alone.
    public var accuracy: Double
    public var loss: Double
}

/// One decision of the greedy soup.
public struct GreedyStep: Codable, Sendable {
    /// The ingredient tried.
    public var path: String
    /// Held-out accuracy of the soup before, and of the uniform average with this ingredient.
    public var soupAccuracy: Double
    public var candidateAccuracy: Double
    public var candidateLoss: Double
    /// Added only when the candidate's accuracy is strictly higher.
    public var accepted: Bool
}

/// The greedy soup of one model.
public struct GreedySoup: Codable, Sendable {
    /// The model.
    public var model: String
    /// Every input alone, best first (the order the soup tries them in).
    public var ingredients: [GreedyIngredient]
    /// The decisions after the first ingredient, in order.
    public var steps: [GreedyStep]
    /// The inputs in the soup.
    public var accepted: [String]
    /// Held-out accuracy and loss of the soup written.
    public var accuracy: Double
    public var loss: Double
}

/// Offline synchronization (Alg. 2).
public struct SyncSummary: Codable, Sendable {
    /// β and the grouping used.
    public var beta: Double
    public var granularity: SharingGranularity
    /// Compatibility groups (keys with ≥ 2 models) and their member tensors.
    public var groups: Int
    public var memberTensors: Int
}

/// What `mmo-merge` did.
public struct MergeReport: Codable, Sendable {
    /// The method and the command recorded in the output's lineage.
    public var method: MergeMethod
    public var operation: String
    /// The file written, its content hash and size.
    public var output: String
    public var contentHash: String
    public var fileBytes: Int
    /// Every input with its content hash, as recorded in the lineage; the base separately.
    public var inputs: [CheckpointState.Lineage.Parent]
    public var base: CheckpointState.Lineage.Parent?
    /// The input whose state document (progress, config, RNG, optimizer scalars, metrics) the
    /// output carries.
    public var stateFrom: String
    /// Per model: merged or copied.
    public var models: [MergedModel]
    /// `dropped`, `averaged`, `unchanged` or `copied from <first input>`.
    public var optimizer: String
    /// `greedy`: per merged model, the soup's decisions.
    public var greedy: [GreedySoup]?
    /// The held-out data of `greedy`: `validation set of <file>` or the `--data` path.
    public var heldOutData: String?
    /// `sync`: what was synchronized.
    public var sync: SyncSummary?
    /// `slerp`: tensors for which the lerp fallback was taken (nearly collinear).
    public var lerpFallbacks: Int?
}

/// Progress of a long merge: what is being done, units done, total units.
public typealias MergeProgress = (_ label: String, _ done: Int, _ total: Int) -> Void

/// Builds merged checkpoints.
public enum Merger {
    /// Merges `inputs` (paths as given) into `output` with `options`; see the file comment for
    /// what the output carries. Errors are `MergeError`s naming the file, model or tensor.
    @discardableResult
    public static func merge(
        inputs paths: [String], options: MergeOptions, output: String, progress: MergeProgress? = nil
    ) throws -> MergeReport {
        try options.validate(inputCount: paths.count)
        let outputURL = URL(fileURLWithPath: output)
        for path in paths + [options.base].compactMap({ $0 }) where canonical(path) == canonical(output) {
            throw MergeError("\(output): is also an input; write the merge to a new file")
        }
        let inputs = try paths.map(open)
        let base = try options.base.map(open)
        let first = inputs[0]
        let state = first.state
        if state.optimizer.microStep != 0 {
            throw MergeError("\(first.path): was saved inside a gradient accumulation (microStep \(state.optimizer.microStep)); merge checkpoints saved at a step boundary")
        }

        // Which models: all (then every input must have exactly the first's set) or those named.
        for name in options.models where state.model(named: name) == nil {
            throw MergeError("\(first.path): has no model '\(name)' (--model); its models are \(state.models.map(\.name).joined(separator: ", "))")
        }
        let selected = Set(options.models.isEmpty ? state.models.map(\.name) : options.models)
        for other in inputs.dropFirst() + [base].compactMap({ $0 }) {
            try requireCompatible(first, other, models: state.models.map(\.name).filter(selected.contains), wholeSet: options.models.isEmpty)
        }

        let records = state.models
        let specs = try records.map { try first.specs(of: $0) }
        let keep = options.keepOptimizer
        // Every blob the merge will read, checked in the indexes before anything is allocated:
        // the output's size then follows from tensors the files really hold.
        for (m, record) in records.enumerated() {
            let merged = selected.contains(record.name)
            let readers: [Checkpoint]
            switch options.method {
            case .sync: readers = [first]
            default: readers = merged ? inputs + [base].compactMap { $0 } : [first]
            }
            for checkpoint in readers {
                try requireBlobs(checkpoint, model: record.name, specs: specs[m], moments: false)
            }
            if keep {
                let momentReaders = merged && options.method.isSoup ? inputs : [first]
                for checkpoint in momentReaders { try requireBlobs(checkpoint, model: record.name, specs: specs[m], moments: true) }
            }
        }

        // The output, whole; tensors are views into these.
        let offsets = specs.map(layout)
        let values = specs.map { FloatBuffer(count: $0.reduce(0) { $0 + $1.count }) }
        let moments: [(FloatBuffer, FloatBuffer)]? = keep ? specs.map { s in
            let n = s.reduce(0) { $0 + $1.count }
            return (FloatBuffer(count: n), FloatBuffer(count: n))
        } : nil
        let largest = specs.flatMap { $0.map(\.count) }.max() ?? 1
        let scratch = Scratch(largest: largest, inputs: options.method.needsBase ? inputs.count + 1 : 2)
        // Raw pointers into `scratch` are taken below; it must live to the end.
        defer { withExtendedLifetime(scratch) {} }

        var report = MergeReport(
            method: options.method, operation: options.operation(inputs: paths), output: output, contentHash: "", fileBytes: 0,
            inputs: inputs.map(parent), base: base.map(parent), stateFrom: first.path,
            models: records.enumerated().map { m, r in
                MergedModel(name: r.name, merged: selected.contains(r.name), tensors: specs[m].count, parameters: values[m].count)
            },
            optimizer: keep ? (options.method.isSoup ? "averaged" : options.method == .sync ? "unchanged" : "copied from \(first.path)") : "dropped")

        // Models not merged, and the moments of methods that do not merge them: the first input's.
        for (m, record) in records.enumerated() {
            let merged = selected.contains(record.name)
            if !merged || options.method == .sync {
                try copy(first, model: record.name, specs: specs[m], offsets: offsets[m], into: values[m], group: .parameters)
            }
            if let moments, !merged || !options.method.isSoup {
                try copy(first, model: record.name, specs: specs[m], offsets: offsets[m], into: moments[m].0, group: .firstMoments)
                try copy(first, model: record.name, specs: specs[m], offsets: offsets[m], into: moments[m].1, group: .secondMoments)
            }
        }
        let mergedModels = records.indices.filter { selected.contains(records[$0].name) }

        switch options.method {
        case .uniform, .weighted:
            let weights = options.weights ?? Array(repeating: 1, count: inputs.count)
            for m in mergedModels {
                let name = records[m].name
                progress?("merging \(name)", m, records.count)
                try soup(inputs, weights: weights, model: name, specs: specs[m], offsets: offsets[m], into: values[m], group: .parameters, scratch: scratch)
                if let moments {
                    try soup(inputs, weights: weights, model: name, specs: specs[m], offsets: offsets[m], into: moments[m].0, group: .firstMoments, scratch: scratch)
                    try soup(inputs, weights: weights, model: name, specs: specs[m], offsets: offsets[m], into: moments[m].1, group: .secondMoments, scratch: scratch)
                }
            }
        case .greedy:
            let (heldOut, description) = try heldOutData(first, path: options.data)
            report.heldOutData = description
            var soups: [GreedySoup] = []
            for m in mergedModels {
                let (summary, accepted) = try greedySoup(
                    inputs, record: records[m], specs: specs[m], offsets: offsets[m], data: heldOut, into: values[m], scratch: scratch,
                    progress: progress)
                soups.append(summary)
                if let moments {
                    let chosen = accepted.map { inputs[$0] }
                    let ones = Array(repeating: 1.0, count: chosen.count)
                    try soup(chosen, weights: ones, model: records[m].name, specs: specs[m], offsets: offsets[m], into: moments[m].0, group: .firstMoments, scratch: scratch)
                    try soup(chosen, weights: ones, model: records[m].name, specs: specs[m], offsets: offsets[m], into: moments[m].1, group: .secondMoments, scratch: scratch)
                }
            }
            report.greedy = soups
        case .sync:
            let beta = options.beta ?? state.run.optimizer.syncCoefficient
            let granularity = options.granularity ?? state.run.optimizer.granularity
            let mixer = synchronize(values: values, specs: specs, offsets: offsets, weights: records.map { Double($0.weight) },
                                    beta: beta, granularity: granularity, active: records.map { selected.contains($0.name) })
            report.sync = SyncSummary(
                beta: beta, granularity: granularity, groups: mixer.groups.count, memberTensors: mixer.groups.reduce(0) { $0 + $1.members.count })
        case .slerp:
            var fallbacks = 0
            for m in mergedModels {
                for (i, spec) in specs[m].enumerated() {
                    let name = CheckpointNames.parameter(model: records[m].name, spec.name)
                    try read(inputs[0], name, spec.shape, into: scratch.inputs[0])
                    try read(inputs[1], name, spec.shape, into: scratch.inputs[1])
                    if MergeMath.slerp(t: options.t ?? 0, scratch.inputs[0], scratch.inputs[1], spec.count, into: values[m].pointer + offsets[m][i]) {
                        fallbacks += 1
                    }
                }
            }
            report.lerpFallbacks = fallbacks
        case .taskArithmetic, .ties, .dare:
            guard let base else { preconditionFailure("validated: task-vector methods have a base") }
            let method: TaskVectorMethod
            switch options.method {
            case .ties: method = .ties(density: options.density ?? 1)
            case .dare: method = .dare(density: options.density ?? 1)
            default: method = .taskArithmetic
            }
            let weights = options.weights ?? Array(repeating: 1, count: inputs.count)
            let deltas = Array(scratch.inputs[1...inputs.count])
            for m in mergedModels {
                progress?("merging \(records[m].name)", m, records.count)
                for (i, spec) in specs[m].enumerated() {
                    let name = CheckpointNames.parameter(model: records[m].name, spec.name)
                    try read(base, name, spec.shape, into: scratch.inputs[0])
                    for (j, input) in inputs.enumerated() { try read(input, name, spec.shape, into: deltas[j]) }
                    var rngs = inputs.indices.map { MergeMath.dareStream(seed: options.seed ?? 0, input: $0, blob: name) }
                    MergeMath.taskVectorMerge(
                        method, base: scratch.inputs[0], inputs: deltas, spec.count, weights: weights, lambda: options.lambda ?? 1,
                        rngs: &rngs, scratch: scratch.floats, into: values[m].pointer + offsets[m][i])
                }
            }
        }

        // Non-finite results (e.g. a weighted soup of a diverged input) would poison a resumed run.
        for m in mergedModels {
            for (i, spec) in specs[m].enumerated() {
                let p = values[m].pointer + offsets[m][i]
                if let k = (0..<spec.count).first(where: { !p[$0].isFinite }) {
                    throw MergeError("model '\(records[m].name)', tensor \(spec.name): the merge gives a non-finite value (\(p[k])) at element \(k); an input holds NaN/Inf or the weights are extreme; nothing was written")
                }
            }
        }

        var outState = state
        outState.lineage = CheckpointState.Lineage(
            parent: nil, parents: report.inputs + [report.base].compactMap { $0 }, operation: report.operation)
        var tensors: [CheckpointTensor] = []
        for (m, record) in records.enumerated() {
            for (i, spec) in specs[m].enumerated() {
                let offset = offsets[m][i]
                tensors.append(CheckpointTensor(name: CheckpointNames.parameter(model: record.name, spec.name), shape: spec.shape, values: values[m].pointer + offset))
                if let moments {
                    tensors.append(CheckpointTensor(name: CheckpointNames.firstMoment(model: record.name, spec.name), shape: spec.shape, values: moments[m].0.pointer + offset))
                    tensors.append(CheckpointTensor(name: CheckpointNames.secondMoment(model: record.name, spec.name), shape: spec.shape, values: moments[m].1.pointer + offset))
                }
            }
        }
        progress?("writing \(output)", records.count, records.count)
        let written: MMOWriteReport
        do {
            // The tensors are raw views: the buffers must outlive the write (ARC could free
            // them after their last visible use above).
            written = try withExtendedLifetime((values, moments)) {
                try CheckpointWriter.write(outState, tensors: tensors, to: outputURL, compressionLevel: options.compressionLevel)
            }
        } catch {
            throw MergeError("\(error)")
        }
        report.contentHash = written.contentHashHex
        report.fileBytes = written.fileLength
        return report
    }

    // MARK: - Offline synchronization

    /// Alg. 2 on flat per-model buffers, through the optimizer's `GroupMixer`: per compatibility
    /// group, `avg = Σ wᵢ p / Σ wᵢ` over the active models, `p ← (1 − β) p + β avg`. Returns the
    /// mixer (its groups). Public so that tests can compare it with a training step.
    @discardableResult
    public static func synchronize(
        values: [FloatBuffer], specs: [[ParameterSpec]], offsets: [[Int]], weights: [Double], beta: Double,
        granularity: SharingGranularity, active: [Bool]
    ) -> GroupMixer {
        let mixer = GroupMixer(groups: CompatibilityGroup.groups(models: specs, granularity: granularity), offsets: offsets, weights: weights)
        mixer.mix(values.map(\.pointer), coefficient: beta, active: active)
        return mixer
    }

    /// Element offsets of `specs` laid out back to back, as `ParameterStore` lays them out.
    public static func layout(_ specs: [ParameterSpec]) -> [Int] {
        var offsets: [Int] = []
        var total = 0
        for spec in specs {
            offsets.append(total)
            total += spec.count
        }
        return offsets
    }

    // MARK: - Soups

    /// `into[tensor] = Σ wⱼ xⱼ / Σ wⱼ` for every tensor of `model` in blob group `group`,
    /// one input tensor at a time. Inputs of weight 0 are not read (they cannot contribute, and
    /// `0 · x` would turn an infinite x into NaN).
    static func soup(
        _ inputs: [Checkpoint], weights: [Double], model: String, specs: [ParameterSpec], offsets: [Int], into target: FloatBuffer,
        group: CheckpointNames.BlobGroup, scratch: Scratch
    ) throws {
        let total = weights.reduce(0, +)
        for (i, spec) in specs.enumerated() {
            let name = blobName(group, model: model, spec.name)
            var first = true
            for (j, input) in inputs.enumerated() where weights[j] != 0 {
                try read(input, name, spec.shape, into: scratch.inputs[0])
                MergeMath.accumulate(scratch.sum, scratch.inputs[0], spec.count, weight: weights[j], first: first)
                first = false
            }
            MergeMath.finish(scratch.sum, spec.count, dividedBy: total, into: target.pointer + offsets[i])
        }
    }

    /// The greedy soup of one model (Wortsman et al. 2022, "Model soups", Recipe 1): every input
    /// evaluated alone on the held-out set, sorted best first (ties: input order); the soup
    /// starts as the best; each next input is added when the uniform average of the soup with it
    /// has a strictly higher held-out accuracy. Writes the final soup into `target` (exactly the
    /// parameters that were evaluated) and returns the report and the accepted input indices.
    static func greedySoup(
        _ inputs: [Checkpoint], record: CheckpointState.ModelRecord, specs: [ParameterSpec], offsets: [Int], data: LabeledDataset,
        into target: FloatBuffer, scratch: Scratch, progress: MergeProgress?
    ) throws -> (GreedySoup, [Int]) {
        let first = inputs[0]
        let model: any SequenceClassifier
        do {
            model = try makeClassifier(config: record.config, seed: 0)
        } catch {
            throw MergeError("\(first.path): model '\(record.name)' has an unbuildable architecture: \(error)")
        }
        let encoded = EvaluationData.encoded(data, for: record, of: first)
        let run = first.state.run
        let batch = TokenBatch(maxBatchSize: run.training.batchSize, maxSequenceLength: run.data.maxLength)
        let store = model.parameters
        let total = inputs.count * 2 - 1
        var done = 0
        func evaluate() -> EvalResult {
            let result = Evaluator.evaluate(model, on: encoded, batch: batch, batchSize: run.training.batchSize)
            done += 1
            progress?("greedy soup of \(record.name)", done, total)
            return result
        }

        var alone: [EvalResult] = []
        for input in inputs {
            for (i, spec) in specs.enumerated() {
                try read(input, CheckpointNames.parameter(model: record.name, spec.name), spec.shape, into: store.value(i))
            }
            alone.append(evaluate())
        }
        let order = inputs.indices.sorted { alone[$0].accuracy != alone[$1].accuracy ? alone[$0].accuracy > alone[$1].accuracy : $0 < $1 }

        // Running sums in Double: the soup's and the candidate's, swapped on acceptance.
        let n = store.totalCount
        var soupSum = UnsafeMutablePointer<Double>.allocate(capacity: max(1, n))
        var candidateSum = UnsafeMutablePointer<Double>.allocate(capacity: max(1, n))
        defer {
            soupSum.deallocate()
            candidateSum.deallocate()
        }
        for (i, spec) in specs.enumerated() {
            try read(inputs[order[0]], CheckpointNames.parameter(model: record.name, spec.name), spec.shape, into: scratch.inputs[0])
            MergeMath.accumulate(soupSum + offsets[i], scratch.inputs[0], spec.count, weight: 1, first: true)
        }
        var accepted = [order[0]]
        var soupResult = alone[order[0]]
        var steps: [GreedyStep] = []
        for j in order.dropFirst() {
            let count = Double(accepted.count + 1)
            for (i, spec) in specs.enumerated() {
                try read(inputs[j], CheckpointNames.parameter(model: record.name, spec.name), spec.shape, into: scratch.inputs[0])
                let o = offsets[i], x = scratch.inputs[0], value = store.value(i)
                for k in 0..<spec.count {
                    candidateSum[o + k] = soupSum[o + k] + Double(x[k])
                    value[k] = Float(candidateSum[o + k] / count)
                }
            }
            let result = evaluate()
            let accept = result.accuracy > soupResult.accuracy
            steps.append(
                GreedyStep(path: inputs[j].path, soupAccuracy: soupResult.accuracy, candidateAccuracy: result.accuracy, candidateLoss: result.loss, accepted: accept))
            if accept {
                swap(&soupSum, &candidateSum)
                accepted.append(j)
                soupResult = result
            }
        }
        MergeMath.finish(soupSum, n, dividedBy: Double(accepted.count), into: target.pointer)
        let summary = GreedySoup(
            model: record.name,
            ingredients: order.map { GreedyIngredient(path: inputs[$0].path, accuracy: alone[$0].accuracy, loss: alone[$0].loss) },
            steps: steps, accepted: accepted.map { inputs[$0].path }, accuracy: soupResult.accuracy, loss: soupResult.loss)
        return (summary, accepted)
    }

    /// The greedy soup's held-out examples: `--data` read with the first input's columns and
    /// labels, else the first input's validation set.
    static func heldOutData(_ first: Checkpoint, path: String?) throws -> (LabeledDataset, String) {
        do {
            if let path { return (try EvaluationData.file(path, for: first), path) }
            return (try EvaluationData.validation(of: first), "validation set of \(first.path)")
        } catch let error as MergeError {
            throw error
        } catch {
            throw MergeError("held-out data for --method greedy: \(error)")
        }
    }

    // MARK: - Compatibility

    /// Refuses `other` unless it can be merged with `first`: the same model set (when merging
    /// all), the same architecture for every merged model, the same tokenizer words and the same
    /// labels. Names the first difference and both files.
    static func requireCompatible(_ first: Checkpoint, _ other: Checkpoint, models: [String], wholeSet: Bool) throws {
        func refuse(_ what: String) -> MergeError {
            MergeError("\(other.path): cannot be merged with \(first.path): \(what); merge checkpoints of one architecture (the same models, tokenizer and labels, e.g. seeds or steps of one run config)")
        }
        let a = first.state, b = other.state
        if wholeSet && a.models.map(\.name) != b.models.map(\.name) {
            throw refuse("its models are \(b.models.map(\.name).joined(separator: ", ")), the first input's are \(a.models.map(\.name).joined(separator: ", ")) (--model NAME merges only some)")
        }
        for name in models {
            guard let x = a.model(named: name) else { continue }
            guard let y = b.model(named: name) else {
                throw refuse("it has no model '\(name)' (its models are \(b.models.map(\.name).joined(separator: ", ")))")
            }
            if let difference = firstDifference(x.config, y.config) {
                throw refuse("model '\(name)' has \(difference.field) \(difference.other) where the first input has \(difference.first)")
            }
            if x.tokenizer != y.tokenizer {
                throw refuse("model '\(name)' was trained with another tokenizer (its own, from models[].init) than in the first input")
            }
        }
        if a.tokenizer != b.tokenizer {
            let wa = a.tokenizer.words, wb = b.tokenizer.words
            if let k = (0..<min(wa.count, wb.count)).first(where: { wa[$0] != wb[$0] }) ?? (wa.count != wb.count ? min(wa.count, wb.count) : nil) {
                let x = k < wa.count ? "'\(wa[k])'" : "nothing", y = k < wb.count ? "'\(wb[k])'" : "nothing"
                throw refuse("tokenizer word \(k) (id \(k + WordTokenizer.specialCount)) is \(y) where the first input has \(x) (\(wb.count) vs \(wa.count) words)")
            }
            if a.tokenizer.lowercase != b.tokenizer.lowercase { throw refuse("tokenizer lowercase is \(b.tokenizer.lowercase) where the first input has \(a.tokenizer.lowercase)") }
            throw refuse("tokenizer maxLength is \(b.tokenizer.maxLength) where the first input has \(a.tokenizer.maxLength)")
        }
        if a.data.labelNames != b.data.labelNames {
            throw refuse("its labels are \(b.data.labelNames.joined(separator: ", ")), the first input's are \(a.data.labelNames.joined(separator: ", "))")
        }
    }

    /// The first field (in declaration order) where two model configs differ.
    static func firstDifference(_ a: ModelConfig, _ b: ModelConfig) -> (field: String, first: String, other: String)? {
        if a == b { return nil }
        for (x, y) in zip(Mirror(reflecting: a).children, Mirror(reflecting: b).children) where "\(x.value)" != "\(y.value)" {
            return (x.label ?? "?", "\(x.value)", "\(y.value)")
        }
        return ("config", "\(a)", "\(b)")
    }

    /// Every blob of `model` the merge reads from `checkpoint` exists as f32 of the spec's shape.
    static func requireBlobs(_ checkpoint: Checkpoint, model: String, specs: [ParameterSpec], moments: Bool) throws {
        let groups: [CheckpointNames.BlobGroup] = moments ? [.firstMoments, .secondMoments] : [.parameters]
        for spec in specs {
            for group in groups {
                let name = blobName(group, model: model, spec.name)
                guard let blob = checkpoint.reader.blob(named: name) else {
                    if moments {
                        throw MergeError("\(checkpoint.path): model '\(model)' has no optimizer moments (blob \(name) is missing); merge without --keep-optimizer")
                    }
                    throw MergeError("\(checkpoint.path): model '\(model)': tensor \(name) is missing; the checkpoint is incomplete")
                }
                guard blob.dtype == .f32, blob.shape == spec.shape else {
                    throw MergeError("\(checkpoint.path): model '\(model)': tensor \(name) is \(blob.dtype.rawValue) \(blob.shape), its architecture needs f32 \(spec.shape)")
                }
            }
        }
    }

    // MARK: - Reading

    static func open(_ path: String) throws -> Checkpoint {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MergeError("\(path): no such file; give the path of a .mmo checkpoint (e.g. runs/<run>/last.mmo)")
        }
        do { return try Checkpoint.open(URL(fileURLWithPath: path)) } catch { throw MergeError("\(error)") }
    }

    static func parent(_ checkpoint: Checkpoint) -> CheckpointState.Lineage.Parent {
        CheckpointState.Lineage.Parent(contentHash: checkpoint.reader.contentHashHex, path: checkpoint.path)
    }

    static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
    }

    static func blobName(_ group: CheckpointNames.BlobGroup, model: String, _ parameter: String) -> String {
        switch group {
        case .firstMoments: return CheckpointNames.firstMoment(model: model, parameter)
        case .secondMoments: return CheckpointNames.secondMoment(model: model, parameter)
        default: return CheckpointNames.parameter(model: model, parameter)
        }
    }

    /// Decodes one tensor (checksum verified by the reader) and releases its mapped pages.
    static func read(_ checkpoint: Checkpoint, _ name: String, _ shape: [Int], into target: UnsafeMutablePointer<Float>) throws {
        do {
            try checkpoint.readTensor(name, shape: shape, into: target)
        } catch {
            throw MergeError("\(error)")
        }
        if let blob = checkpoint.reader.blob(named: name) { checkpoint.reader.release(blob) }
    }

    /// Copies one blob group of `model` from `checkpoint` into a flat buffer.
    static func copy(
        _ checkpoint: Checkpoint, model: String, specs: [ParameterSpec], offsets: [Int], into target: FloatBuffer, group: CheckpointNames.BlobGroup
    ) throws {
        for (i, spec) in specs.enumerated() {
            try read(checkpoint, blobName(group, model: model, spec.name), spec.shape, into: target.pointer + offsets[i])
        }
    }
}

/// Reused per-tensor buffers, sized for the largest tensor.
final class Scratch {
    /// One f32 tensor per simultaneously read input (the base first for task vectors).
    let inputs: [UnsafeMutablePointer<Float>]
    /// A Double accumulator.
    let sum: UnsafeMutablePointer<Double>
    /// Extra f32 space (TIES trimming).
    let floats: UnsafeMutablePointer<Float>
    private let buffers: [FloatBuffer]

    init(largest: Int, inputs count: Int) {
        buffers = (0..<(count + 1)).map { _ in FloatBuffer(count: max(1, largest)) }
        inputs = buffers.dropLast().map(\.pointer)
        floats = buffers.last!.pointer
        sum = .allocate(capacity: max(1, largest))
    }

    deinit { sum.deallocate() }
}
