// What a checkpoint holds, as data: the summary of `mmo-inspect`, one row per blob, and tensor
// statistics. The summary reads only header, index and state document (no blob is decoded), so
// it takes milliseconds on any checkpoint; statistics decode blob by blob into one scratch buffer.
import Foundation
import MMOCore
import MMOFormat
import MMOModels
import MMOOptim
import MMORun

/// Raw and stored bytes of one group of blobs.
public struct ByteGroupSummary: Codable, Sendable, Equatable {
    /// `parameters`, `firstMoments`, `secondMoments`, `other` or `stateDocument`.
    public var group: String
    /// Blobs in the group (1 for the state document).
    public var blobs: Int
    /// Decoded bytes.
    public var rawBytes: Int
    /// Bytes in the file.
    public var storedBytes: Int
    /// `storedBytes / rawBytes` (1 for an empty group).
    public var ratio: Double
}

/// One model of a checkpoint, as `mmo-inspect` shows it.
public struct ModelSummary: Codable, Sendable {
    /// Name in the run.
    public var name: String
    /// Family.
    public var family: ModelFamily
    /// The paper's model weight.
    public var weight: Float
    /// Parameter elements.
    public var parameterCount: Int
    /// The architecture.
    public var config: ModelConfig
    /// Whether the AdamW moments are stored (a merge may drop them).
    public var hasMoments: Bool
    /// The learning rate of the checkpoint's last step (0 before the first step).
    public var learningRate: Double
    /// Convergence rate r (Alg. 3).
    public var convergenceRate: Double
    /// AdamW steps taken (skipped steps excluded).
    public var adamSteps: Int
    /// Non-finite steps in a row / in total.
    public var consecutiveSkips: Int
    public var totalSkips: Int
    /// The latest and the best validation evaluation, if any.
    public var lastEval: EvalResult?
    public var best: BestRecord?
    /// Where the model's initial weights came from (`models[].init`), if not from the run seed.
    public var initialization: InitializationReport?
}

/// Everything `mmo-inspect FILE` prints, for a person or (as JSON) a script.
public struct CheckpointSummary: Codable, Sendable {
    /// The file.
    public var path: String
    /// File length in bytes.
    public var fileBytes: Int
    /// `major.minor` of the container.
    public var formatVersion: String
    /// State convention, e.g. `mmo-state v1`.
    public var stateConvention: String
    /// `name version` of the writing program.
    public var producer: String
    /// Content hash (spec §2).
    public var contentHash: String
    /// The run's name and seed.
    public var runName: String
    public var seed: UInt64
    /// Optimizer steps done, of the run's total; data epoch; micro-batches into the next step.
    public var step: Int
    public var totalSteps: Int
    public var epoch: Int
    public var microStep: Int
    /// Training examples consumed per model.
    public var examplesSeen: Int
    /// BLAS threads of the run.
    public var threads: Int
    /// Class names.
    public var labels: [String]
    /// Training / validation examples.
    public var trainCount: Int
    public var validationCount: Int
    /// Data source (`synthetic` or the training file).
    public var data: String
    /// The models.
    public var models: [ModelSummary]
    /// Bytes per group of blobs, and the state document.
    public var bytes: [ByteGroupSummary]
    /// Where the file comes from.
    public var lineage: CheckpointState.Lineage
}

/// One blob of a checkpoint, interpreted by the producer's naming convention.
public struct TensorRow: Codable, Sendable {
    /// Blob name.
    public var name: String
    /// Group (`parameters`, `firstMoments`, `secondMoments`, `other`).
    public var group: CheckpointNames.BlobGroup
    /// Model and Hugging Face parameter name, when the blob belongs to a model.
    public var model: String?
    public var parameter: String?
    /// Kind, role and block of the parameter, when known.
    public var kind: ParameterKind?
    public var role: String?
    public var block: Int?
    /// Stored form.
    public var dtype: String
    public var shape: [Int]
    public var codec: String
    public var filter: String
    public var storedBytes: Int
    public var rawBytes: Int
    /// With `--stats`.
    public var stats: TensorStats?
}

/// Statistics of one tensor's values (mean, std, min, max and norm over the finite values).
public struct TensorStats: Codable, Sendable, Equatable {
    /// Elements.
    public var count: Int
    public var mean: Double
    /// Population standard deviation.
    public var std: Double
    public var min: Double
    public var max: Double
    /// √Σx² over the finite values.
    public var l2: Double
    /// Non-finite elements.
    public var nan: Int
    public var inf: Int

    /// Statistics of `count` floats at `values` (Double accumulators; two passes for the std, so
    /// it does not lose precision when the mean is large).
    public static func of(_ values: UnsafePointer<Float>, count: Int) -> TensorStats {
        var sum = 0.0, squares = 0.0, lo = Double.infinity, hi = -Double.infinity
        var nan = 0, inf = 0, finite = 0
        for i in 0..<count {
            let x = values[i]
            if x.isNaN { nan += 1; continue }
            if x.isInfinite { inf += 1; continue }
            let d = Double(x)
            finite += 1
            sum += d
            squares += d * d
            lo = Swift.min(lo, d)
            hi = Swift.max(hi, d)
        }
        let mean = finite > 0 ? sum / Double(finite) : 0
        var variance = 0.0
        for i in 0..<count where values[i].isFinite {
            let e = Double(values[i]) - mean
            variance += e * e
        }
        return TensorStats(
            count: count, mean: mean, std: finite > 0 ? (variance / Double(finite)).squareRoot() : 0,
            min: finite > 0 ? lo : 0, max: finite > 0 ? hi : 0, l2: squares.squareRoot(), nan: nan, inf: inf)
    }
}

/// Builds `mmo-inspect`'s data.
public enum Inspector {
    /// The summary of `checkpoint` from its index and state document only.
    public static func summary(_ checkpoint: Checkpoint) -> CheckpointSummary {
        let state = checkpoint.state
        let reader = checkpoint.reader
        var groups: [CheckpointNames.BlobGroup: (blobs: Int, raw: Int, stored: Int)] = [:]
        for blob in reader.blobs {
            let group = CheckpointNames.parse(blob.name).group
            groups[group, default: (0, 0, 0)].blobs += 1
            groups[group, default: (0, 0, 0)].raw += blob.length
            groups[group, default: (0, 0, 0)].stored += blob.storedLength
        }
        var bytes = CheckpointNames.BlobGroup.allCases.compactMap { group -> ByteGroupSummary? in
            guard let g = groups[group] else { return nil }
            return ByteGroupSummary(
                group: group.rawValue, blobs: g.blobs, rawBytes: g.raw, storedBytes: g.stored,
                ratio: g.raw > 0 ? Double(g.stored) / Double(g.raw) : 1)
        }
        let s = reader.stateRegion
        bytes.append(
            ByteGroupSummary(
                group: "stateDocument", blobs: 1, rawBytes: s.length, storedBytes: s.storedLength,
                ratio: s.length > 0 ? Double(s.storedLength) / Double(s.length) : 1))

        var optimizerConfig = state.run.optimizer
        optimizerConfig.totalSteps = state.progress.totalSteps
        let weights = state.models.map { Double($0.weight) }
        let meanWeight = weights.reduce(0, +) / Double(max(1, weights.count))
        let models = state.models.enumerated().map { i, record -> ModelSummary in
            let optimizer = state.optimizer.models.first { $0.name == record.name }
            let rate = optimizer?.convergenceRate ?? 1
            let lr =
                state.progress.step > 0
                ? LearningRateSchedule.learningRate(
                    step: state.progress.step, config: optimizerConfig, convergenceRate: rate, weight: weights[i],
                    meanWeight: meanWeight) : 0
            let hasMoments = reader.blobs.contains {
                let parsed = CheckpointNames.parse($0.name)
                return parsed.group == .firstMoments && parsed.model == record.name
            }
            return ModelSummary(
                name: record.name, family: record.family, weight: record.weight, parameterCount: record.parameterCount,
                config: record.config, hasMoments: hasMoments, learningRate: lr, convergenceRate: rate,
                adamSteps: optimizer?.adamSteps ?? 0, consecutiveSkips: optimizer?.consecutiveSkips ?? 0,
                totalSkips: optimizer?.totalSkips ?? 0, lastEval: state.metrics.lastEval[record.name],
                best: state.metrics.best[record.name], initialization: record.initialization)
        }
        let data = state.run.data.source == .synthetic ? "synthetic (paper §4.2)" : (state.run.data.train ?? "files")
        return CheckpointSummary(
            path: checkpoint.path, fileBytes: reader.fileLength, formatVersion: "\(reader.majorVersion).\(reader.minorVersion)",
            stateConvention: "\(state.format.name) v\(state.format.version)",
            producer: "\(state.producer.name) \(state.producer.version)", contentHash: reader.contentHashHex,
            runName: state.run.name, seed: state.run.seed, step: state.progress.step, totalSteps: state.progress.totalSteps,
            epoch: state.progress.cursor.epoch, microStep: state.optimizer.microStep,
            examplesSeen: state.progress.examplesSeen, threads: state.threads, labels: state.data.labelNames,
            trainCount: state.data.trainCount, validationCount: state.data.validationCount, data: data, models: models,
            bytes: bytes, lineage: state.lineage)
    }

    /// One row per blob (optionally only model `model` / parameters of `kind`), in file order.
    public static func tensors(_ checkpoint: Checkpoint, model: String? = nil, kind: ParameterKind? = nil) throws -> [TensorRow] {
        if let model { _ = try checkpoint.model(named: model) }
        var specsByModel: [String: [String: ParameterSpec]] = [:]
        for record in checkpoint.state.models {
            let specs = try checkpoint.specs(of: record)
            specsByModel[record.name] = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0) })
        }
        return checkpoint.reader.blobs.compactMap { blob -> TensorRow? in
            let parsed = CheckpointNames.parse(blob.name)
            let spec = parsed.model.flatMap { m in parsed.parameter.flatMap { specsByModel[m]?[$0] } }
            if let model, parsed.model != model { return nil }
            if let kind, spec?.kind != kind { return nil }
            return TensorRow(
                name: blob.name, group: parsed.group, model: parsed.model, parameter: parsed.parameter, kind: spec?.kind,
                role: spec?.role, block: spec?.block, dtype: blob.dtype.rawValue, shape: blob.shape, codec: blob.codec.rawValue,
                filter: blob.filter.rawValue, storedBytes: blob.storedLength, rawBytes: blob.length, stats: nil)
        }
    }

    /// Adds statistics to `rows` (f32 blobs only), decoding each blob once into a reused buffer.
    /// `progress(done, total)` is called after each blob.
    public static func addStats(
        to rows: inout [TensorRow], reader: MMOReader, progress: ((Int, Int) -> Void)? = nil
    ) throws {
        let largest = rows.filter { $0.dtype == MMODType.f32.rawValue }.map { $0.rawBytes / 4 }.max() ?? 0
        let scratch = FloatBuffer(count: max(1, largest))
        for i in rows.indices {
            defer { progress?(i + 1, rows.count) }
            guard rows[i].dtype == MMODType.f32.rawValue, let blob = reader.blob(named: rows[i].name) else { continue }
            try reader.read(blob, into: UnsafeMutableRawBufferPointer(start: scratch.pointer, count: blob.length))
            rows[i].stats = TensorStats.of(scratch.pointer, count: blob.count)
            reader.release(blob)
        }
    }

    /// Decodes every region and checks every checksum and padding byte. Returns one message per
    /// damaged part (blob by blob, so that every bad blob is named), empty when the file verifies.
    public static func verify(_ reader: MMOReader, progress: ((Int, Int) -> Void)? = nil) -> [String] {
        do {
            try reader.verify()
            progress?(reader.blobs.count, reader.blobs.count)
            return []
        } catch {
            // Name every damaged blob, not only the first: decode them one by one.
            var problems: [String] = []
            do { _ = try reader.stateDocument() } catch { problems.append("\(error)") }
            let largest = reader.blobs.map(\.length).max() ?? 0
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, largest), alignment: 64)
            defer { scratch.deallocate() }
            for (i, blob) in reader.blobs.enumerated() {
                do {
                    try reader.read(blob, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<blob.length]))
                } catch let e {
                    problems.append("\(e)")
                }
                reader.release(blob)
                progress?(i + 1, reader.blobs.count)
            }
            if problems.isEmpty { problems.append("\(error)") }  // padding or layout
            return problems
        }
    }
}
