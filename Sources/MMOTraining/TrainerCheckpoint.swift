// The trainer's side of a checkpoint: the state document of the current moment and the tensors
// to store, handed to MMORun's `CheckpointWriter`. What is saved is exactly what the loop
// depends on, so a resumed run is bit-identical.
import Foundation
import MMOCore
import MMORun

extension Trainer {
    /// The state document for the current moment of the run.
    func checkpointState() -> CheckpointState {
        CheckpointState(
            run: config,
            models: config.models.enumerated().map { i, entry in
                CheckpointState.ModelRecord(
                    name: entry.name, family: entry.family, weight: entry.weight, config: models[i].config,
                    parameterCount: models[i].parameters.totalCount,
                    // A model from a source keeps its tokenizer and load report with the run, so
                    // that resume, eval and export never need the source again.
                    tokenizer: initializations[i] == nil ? nil : modelTokenizers[i], initialization: initializations[i])
            },
            progress: progress,
            rng: rngStates(),
            optimizer: optimizer.exportState(),
            tokenizer: tokenizer,
            data: CheckpointState.DataRecord(
                labelNames: labelNames, trainCount: trainSets[0].count, validationCount: validationSets[0].count,
                fingerprint: dataFingerprint),
            metrics: CheckpointState.Metrics(lastEval: lastEval, best: best),
            lineage: CheckpointState.Lineage(parent: parent),
            threads: BLAS.threads)
    }

    /// The named streams to save: `dropout/<model>` for every model, `mlm/<model>` for every
    /// masked-LM model (other objectives draw nothing).
    func rngStates() -> [String: RNGState] {
        var states: [String: RNGState] = [:]
        for (m, name) in names.enumerated() {
            states["dropout/\(name)"] = models[m].dropoutRNG.state
            if targetRules[m].drawsRandomly { states[MaskingStreams.training(model: name)] = maskingRNGs[m].state }
        }
        return states
    }

    /// Writes the whole run state to `url` atomically (the previous file under that name, if
    /// any, survives any failure). The new file becomes the parent of the next one.
    public func saveCheckpoint(to url: URL) throws {
        let moments = Dictionary(uniqueKeysWithValues: optimizer.stateTensors().map { ($0.name, $0.values) })
        var tensors: [CheckpointTensor] = []
        for (m, model) in models.enumerated() {
            let momentNames = optimizer.momentTensorNames(model: m)
            guard let first = moments[momentNames.expAvg], let second = moments[momentNames.expAvgSq] else {
                preconditionFailure("optimizer has no moments for model \(names[m])")
            }
            tensors += CheckpointWriter.tensors(
                model: names[m], store: model.parameters, moments: (UnsafePointer(first.pointer), UnsafePointer(second.pointer)))
        }
        let report = try CheckpointWriter.write(
            checkpointState(), tensors: tensors, to: url, compressionLevel: config.training.compressionLevel)
        parent = CheckpointState.Lineage.Parent(contentHash: report.contentHashHex, path: url.lastPathComponent)
    }
}
