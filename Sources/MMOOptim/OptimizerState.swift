// The optimizer's whole state as a Codable document plus named Float32 tensors (the AdamW moments),
// and restoring it bit-exactly: a run restored from an export continues exactly as one that never
// stopped. The document holds every scalar, rate and loss history (JSON round-trips Double and Float
// exactly); the tensors are views of the moment buffers, so exporting copies nothing.
import MMOCore

/// The optimizer state document (everything except the moment tensors).
public struct OptimizerState: Codable, Equatable, Sendable {
    /// Per-model part of the state.
    public struct Model: Codable, Equatable, Sendable {
        /// Model name; restore matches models by position and checks the name.
        public var name: String
        /// Number of parameters (length of each moment tensor).
        public var parameterCount: Int
        /// AdamW steps taken (skipped steps excluded); drives bias correction.
        public var adamSteps: Int
        /// Convergence rate `r` (Alg. 3).
        public var convergenceRate: Double
        /// The last `convergenceWindow` recorded losses at most, oldest first.
        public var lossHistory: [Float]
        /// Number of losses recorded since the start.
        public var lossCount: Int
        /// Non-finite steps in a row at the moment of export.
        public var consecutiveSkips: Int
        /// Non-finite steps in total.
        public var totalSkips: Int
    }

    /// Version of this document's layout.
    public var version: Int
    /// Optimizer steps completed.
    public var completedSteps: Int
    /// Micro-batches recorded since the last step.
    public var microStep: Int
    /// One entry per model, in the optimizer's order.
    public var models: [Model]

    /// The layout version written by this build.
    public static let currentVersion = 1
}

/// A saved state does not fit this optimizer.
public enum OptimizerStateError: Error, Equatable, CustomStringConvertible {
    /// The state's layout version is not one this build reads.
    case unsupportedVersion(Int)
    /// The number of models differs.
    case modelCount(expected: Int, found: Int)
    /// Model `index` has another name or parameter count.
    case modelMismatch(index: Int, expected: String, found: String)
    /// A moment tensor is missing.
    case missingTensor(String)
    /// A moment tensor has the wrong number of elements.
    case tensorLength(name: String, expected: Int, found: Int)
    /// A field holds an impossible value.
    case invalidField(String)

    /// What went wrong and what to do, naming the field or model.
    public var description: String {
        switch self {
        case .unsupportedVersion(let v):
            return "optimizer state: layout version \(v) is not supported (this build reads \(OptimizerState.currentVersion))."
        case .modelCount(let expected, let found):
            return "optimizer state: it holds \(found) models but the run has \(expected); resume with the same models."
        case .modelMismatch(let index, let expected, let found):
            return "optimizer state: model \(index) is \(found) but the run has \(expected); resume with the same models in the same order."
        case .missingTensor(let name):
            return "optimizer state: tensor `\(name)` is missing from the checkpoint."
        case .tensorLength(let name, let expected, let found):
            return "optimizer state: tensor `\(name)` has \(found) elements, expected \(expected)."
        case .invalidField(let field):
            return "optimizer state: field `\(field)` holds an impossible value; the checkpoint is damaged."
        }
    }
}

extension MultiModelOptimizer {
    /// Names of model `i`'s moment tensors: `optimizer.<name>.exp_avg` and `….exp_avg_sq`.
    public func momentTensorNames(model i: Int) -> (expAvg: String, expAvgSq: String) {
        ("optimizer.\(models[i].name).exp_avg", "optimizer.\(models[i].name).exp_avg_sq")
    }

    /// The moment tensors as named views of the live buffers (copy or write them before the next step).
    public func stateTensors() -> [(name: String, values: FloatBuffer)] {
        models.indices.flatMap { i -> [(name: String, values: FloatBuffer)] in
            let names = momentTensorNames(model: i)
            return [(names.expAvg, expAvg[i]), (names.expAvgSq, expAvgSq[i])]
        }
    }

    /// The state document.
    public func exportState() -> OptimizerState {
        OptimizerState(
            version: OptimizerState.currentVersion, completedSteps: completedSteps, microStep: microStep,
            models: models.indices.map { i in
                OptimizerState.Model(
                    name: models[i].name, parameterCount: models[i].store.totalCount,
                    adamSteps: adamSteps[i], convergenceRate: convergence.rates[i],
                    lossHistory: convergence.history(model: i), lossCount: convergence.counts[i],
                    consecutiveSkips: consecutiveSkips[i], totalSkips: totalSkips[i])
            })
    }

    /// Restores `state`, reading each moment tensor through `tensor(name)` (nil if absent).
    /// Everything is checked before anything is changed, so a failed restore leaves the optimizer
    /// as it was.
    public func restore(
        _ state: OptimizerState, tensor: (String) throws -> UnsafeBufferPointer<Float>?
    ) throws {
        guard state.version == OptimizerState.currentVersion else {
            throw OptimizerStateError.unsupportedVersion(state.version)
        }
        guard state.models.count == models.count else {
            throw OptimizerStateError.modelCount(expected: models.count, found: state.models.count)
        }
        guard state.completedSteps >= 0 else { throw OptimizerStateError.invalidField("completedSteps") }
        guard state.microStep >= 0 && state.microStep <= config.accumulationSteps else {
            throw OptimizerStateError.invalidField("microStep")
        }
        var sources: [(UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>)] = []
        for (i, saved) in state.models.enumerated() {
            let count = models[i].store.totalCount
            guard saved.name == models[i].name && saved.parameterCount == count else {
                throw OptimizerStateError.modelMismatch(
                    index: i, expected: "`\(models[i].name)` (\(count) parameters)",
                    found: "`\(saved.name)` (\(saved.parameterCount) parameters)")
            }
            let field = "models[\(i)]"
            guard saved.adamSteps >= 0 && saved.adamSteps <= state.completedSteps else {
                throw OptimizerStateError.invalidField("\(field).adamSteps")
            }
            guard saved.convergenceRate.isFinite && saved.convergenceRate > 0 else {
                throw OptimizerStateError.invalidField("\(field).convergenceRate")
            }
            // The ring needs the last min(count, window) losses; a longer history is cut.
            let history = saved.lossHistory.count
            guard saved.lossCount >= history && saved.lossCount <= state.completedSteps,
                history >= min(saved.lossCount, config.convergenceWindow)
            else { throw OptimizerStateError.invalidField("\(field).lossHistory") }
            guard saved.consecutiveSkips >= 0 && saved.totalSkips >= saved.consecutiveSkips else {
                throw OptimizerStateError.invalidField("\(field).totalSkips")
            }
            let names = momentTensorNames(model: i)
            var pair: [UnsafeBufferPointer<Float>] = []
            for name in [names.expAvg, names.expAvgSq] {
                guard let values = try tensor(name) else { throw OptimizerStateError.missingTensor(name) }
                guard values.count == count else {
                    throw OptimizerStateError.tensorLength(name: name, expected: count, found: values.count)
                }
                pair.append(values)
            }
            sources.append((pair[0], pair[1]))
        }
        for (i, saved) in state.models.enumerated() {
            let count = models[i].store.totalCount
            if let base = sources[i].0.baseAddress { expAvg[i].pointer.update(from: base, count: count) }
            if let base = sources[i].1.baseAddress { expAvgSq[i].pointer.update(from: base, count: count) }
            adamSteps[i] = saved.adamSteps
            consecutiveSkips[i] = saved.consecutiveSkips
            totalSkips[i] = saved.totalSkips
            convergence.restore(
                model: i, history: saved.lossHistory, count: saved.lossCount, rate: saved.convergenceRate)
        }
        completedSteps = state.completedSteps
        microStep = state.microStep
    }

    /// Restores `state` with the moment tensors given as arrays by name.
    public func restore(_ state: OptimizerState, tensors: [String: [Float]]) throws {
        // Pin every array's storage for the duration of the restore.
        var pinned: [String: UnsafeMutableBufferPointer<Float>] = [:]
        defer { for buffer in pinned.values { buffer.deallocate() } }
        for (name, values) in tensors {
            let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
            _ = copy.initialize(from: values)
            pinned[name] = copy
        }
        try restore(state) { name in pinned[name].map { UnsafeBufferPointer($0) } }
    }
}
