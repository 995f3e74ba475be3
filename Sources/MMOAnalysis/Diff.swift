// Comparing checkpoints: parameter drift between two files (tensor by tensor, aggregated per
// model, kind and block), exact identity (checksums first), and convergence between the models
// of one file per compatibility key — the paper's §7.2 in numbers. Everything streams blob by
// blob through the mapping with reused scratch buffers and releases pages once read, so memory
// stays at a few tensors whatever the checkpoint's size.
import Foundation
import MMOCore
import MMOFormat
import MMOModels
import MMOOptim
import MMORun

/// Sums from which every pairwise figure follows; they add over tensors, so aggregates are exact.
public struct PairSums: Codable, Sendable, Equatable {
    /// Σ a·b, Σ a², Σ b², Σ (a − b)² in Double.
    public var dot = 0.0, aa = 0.0, bb = 0.0, dd = 0.0
    /// max |a − b|.
    public var maxAbs = 0.0
    /// Elements.
    public var count = 0

    /// Empty sums.
    public init() {}

    /// Adds `n` aligned elements of `a` and `b`.
    public mutating func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
        var dot = 0.0, aa = 0.0, bb = 0.0, dd = 0.0, m = maxAbs
        for i in 0..<n {
            let x = Double(a[i]), y = Double(b[i])
            dot += x * y
            aa += x * x
            bb += y * y
            let d = x - y
            dd += d * d
            m = Swift.max(m, Swift.abs(d))
        }
        self.dot += dot
        self.aa += aa
        self.bb += bb
        self.dd += dd
        maxAbs = m
        count += n
    }

    /// Adds other sums.
    public mutating func add(_ other: PairSums) {
        dot += other.dot
        aa += other.aa
        bb += other.bb
        dd += other.dd
        maxAbs = Swift.max(maxAbs, other.maxAbs)
        count += other.count
    }

    /// ‖b − a‖ / ‖a‖: the drift of B relative to A (0 when identical; ‖b‖/0 → inf).
    public var relativeL2: Double { aa > 0 ? (dd / aa).squareRoot() : (dd > 0 ? .infinity : 0) }
    /// a·b / (‖a‖‖b‖); 1 when both are zero, 0 when one is.
    public var cosine: Double {
        if aa == 0 && bb == 0 { return 1 }
        if aa == 0 || bb == 0 { return 0 }
        return dot / (aa.squareRoot() * bb.squareRoot())
    }
    /// ‖a − b‖ / (‖a‖ + ‖b‖) ∈ [0, 1]: a symmetric distance for pairs of models.
    public var relativeDistance: Double {
        let denominator = aa.squareRoot() + bb.squareRoot()
        return denominator > 0 ? dd.squareRoot() / denominator : 0
    }
}

/// One tensor present in both checkpoints.
public struct TensorDrift: Codable, Sendable {
    /// Blob name, model and Hugging Face parameter name.
    public var name: String
    public var model: String
    public var parameter: String
    /// Kind and block from the parameter spec (nil when the spec is unknown).
    public var kind: ParameterKind?
    public var block: Int?
    /// Elements.
    public var count: Int
    /// ‖b − a‖ / ‖a‖, cosine, max |b − a|.
    public var relativeL2: Double
    public var cosine: Double
    public var maxAbs: Double
}

/// Drift aggregated over a set of tensors (per model, per kind, per block).
public struct DriftAggregate: Codable, Sendable {
    /// `model`, `model/kind` or `model/block N`.
    public var key: String
    /// Tensors and elements aggregated.
    public var tensors: Int
    public var count: Int
    /// Over the concatenation of the tensors.
    public var relativeL2: Double
    public var cosine: Double
    public var maxAbs: Double
}

/// `mmo-diff A B`.
public struct DriftReport: Codable, Sendable {
    /// The two files.
    public var a: String
    public var b: String
    /// Their steps.
    public var stepA: Int
    public var stepB: Int
    /// Which blob groups were compared (`parameters`, and with moments `firstMoments`, `secondMoments`).
    public var groups: [String]
    /// Per tensor, largest relative drift first.
    public var tensors: [TensorDrift]
    /// Aggregates, largest drift first within each list.
    public var perModel: [DriftAggregate]
    public var perKind: [DriftAggregate]
    public var perBlock: [DriftAggregate]
    /// Blobs of the compared groups present in one file only.
    public var onlyInA: [String]
    public var onlyInB: [String]
    /// Same name, other dtype or shape (not compared).
    public var mismatched: [String]
}

/// `mmo-diff --exact A B`.
public struct ExactReport: Codable, Sendable {
    /// Whether every blob and the state document (outside excluded fields) are identical.
    public var identical: Bool
    /// Blobs compared, and how many were decided by checksum alone.
    public var blobsCompared: Int
    /// Blob names present in one file only.
    public var onlyInA: [String]
    public var onlyInB: [String]
    /// Blobs that differ, with what differs.
    public var differingBlobs: [String]
    /// State-document fields that differ (dotted paths, first difference per top-level key).
    public var differingState: [String]
    /// Top-level state keys left out of the comparison (e.g. `lineage`).
    public var excluded: [String]
}

/// Pairwise similarity of two models' parameters under one compatibility key.
public struct CrossModelPair: Codable, Sendable {
    /// The key, e.g. `attention[64, 64]`, and its kind.
    public var key: String
    public var kind: ParameterKind
    /// The two models, in run order.
    public var modelA: String
    public var modelB: String
    /// Tensors compared from each model (aligned in registration order), elements.
    public var tensors: Int
    public var count: Int
    public var cosine: Double
    /// ‖a − b‖ / (‖a‖ + ‖b‖).
    public var relativeDistance: Double
}

/// `mmo-diff --cross-model FILE`.
public struct CrossModelReport: Codable, Sendable {
    /// The file and its step.
    public var path: String
    public var step: Int
    /// `paper`, `role` or `layer`.
    public var granularity: SharingGranularity
    /// One entry per key and pair of models that both contribute to it.
    public var pairs: [CrossModelPair]
    /// The same aggregated per kind and pair (over every key of that kind).
    public var perKind: [CrossModelPair]
}

/// Builds `mmo-diff`'s data.
public enum Differ {
    /// Parameter drift from `a` to `b` for every tensor present in both (matched by blob name,
    /// i.e. by model and parameter name); with `moments`, AdamW moments too. `progress(done,
    /// total)` after each tensor.
    public static func drift(
        _ a: Checkpoint, _ b: Checkpoint, moments: Bool = false, progress: ((Int, Int) -> Void)? = nil
    ) throws -> DriftReport {
        let groups: Set<CheckpointNames.BlobGroup> = moments ? [.parameters, .firstMoments, .secondMoments] : [.parameters]
        func selected(_ reader: MMOReader) -> [MMOBlobInfo] {
            reader.blobs.filter { groups.contains(CheckpointNames.parse($0.name).group) }
        }
        let blobsA = selected(a.reader), blobsB = selected(b.reader)
        let namesB = Set(blobsB.map(\.name)), namesA = Set(blobsA.map(\.name))
        var specs: [String: ParameterSpec] = [:]
        for record in a.state.models {
            for spec in (try? a.specs(of: record)) ?? [] { specs["\(record.name)/\(spec.name)"] = spec }
        }
        var mismatched: [String] = []
        var pairs: [(MMOBlobInfo, MMOBlobInfo)] = []
        for blob in blobsA {
            guard let other = b.reader.blob(named: blob.name) else { continue }
            if blob.dtype != .f32 || other.dtype != .f32 || blob.shape != other.shape {
                mismatched.append("\(blob.name): \(blob.dtype.rawValue) \(blob.shape) vs \(other.dtype.rawValue) \(other.shape)")
            } else {
                pairs.append((blob, other))
            }
        }
        let largest = pairs.map(\.0.count).max() ?? 0
        let bufferA = FloatBuffer(count: max(1, largest)), bufferB = FloatBuffer(count: max(1, largest))
        var tensors: [TensorDrift] = []
        var perModel: [String: (Int, PairSums)] = [:], perKind: [String: (Int, PairSums)] = [:], perBlock: [String: (Int, PairSums)] = [:]
        for (i, (x, y)) in pairs.enumerated() {
            try read(x, from: a, into: bufferA)
            try read(y, from: b, into: bufferB)
            var sums = PairSums()
            sums.add(bufferA.pointer, bufferB.pointer, x.count)
            let parsed = CheckpointNames.parse(x.name)
            let model = parsed.model ?? "?", parameter = parsed.parameter ?? x.name
            let spec = specs["\(model)/\(parameter)"]
            let prefix = parsed.group == .parameters ? model : "\(model) (\(parsed.group.rawValue))"
            tensors.append(
                TensorDrift(
                    name: x.name, model: model, parameter: parameter, kind: spec?.kind, block: spec?.block, count: x.count,
                    relativeL2: sums.relativeL2, cosine: sums.cosine, maxAbs: sums.maxAbs))
            func add(_ table: inout [String: (Int, PairSums)], _ key: String) {
                var entry = table[key] ?? (0, PairSums())
                entry.0 += 1
                entry.1.add(sums)
                table[key] = entry
            }
            add(&perModel, prefix)
            add(&perKind, "\(prefix)/\(spec?.kind.rawValue ?? "unknown")")
            add(&perBlock, "\(prefix)/" + (spec?.block.map { "block \($0)" } ?? "outside blocks"))
            progress?(i + 1, pairs.count)
        }
        func aggregates(_ table: [String: (Int, PairSums)]) -> [DriftAggregate] {
            table.map { key, value in
                DriftAggregate(
                    key: key, tensors: value.0, count: value.1.count, relativeL2: value.1.relativeL2, cosine: value.1.cosine,
                    maxAbs: value.1.maxAbs)
            }.sorted { $0.relativeL2 != $1.relativeL2 ? $0.relativeL2 > $1.relativeL2 : $0.key < $1.key }
        }
        return DriftReport(
            a: a.path, b: b.path, stepA: a.state.progress.step, stepB: b.state.progress.step,
            groups: CheckpointNames.BlobGroup.allCases.filter { groups.contains($0) }.map(\.rawValue),
            tensors: tensors.sorted { $0.relativeL2 != $1.relativeL2 ? $0.relativeL2 > $1.relativeL2 : $0.name < $1.name },
            perModel: aggregates(perModel), perKind: aggregates(perKind), perBlock: aggregates(perBlock),
            onlyInA: blobsA.map(\.name).filter { !namesB.contains($0) }, onlyInB: blobsB.map(\.name).filter { !namesA.contains($0) },
            mismatched: mismatched)
    }

    /// Decodes `blob` of `checkpoint` into `buffer` and lets go of its mapped pages.
    static func read(_ blob: MMOBlobInfo, from checkpoint: Checkpoint, into buffer: FloatBuffer) throws {
        do {
            try checkpoint.reader.read(blob, into: UnsafeMutableRawBufferPointer(start: buffer.pointer, count: blob.length))
        } catch {
            throw TrainingError.checkpoint(path: checkpoint.path, reason: "\(error)")
        }
        checkpoint.reader.release(blob)
    }

    /// Whether `a` and `b` hold identical blobs and state documents. Blobs with equal dtype,
    /// shape, length and XXH3-64 are identical without decoding (up to hash collisions, as
    /// everywhere in the format); blobs whose checksums differ are decoded to say how they
    /// differ. Top-level state keys in `excluding` are left out, and the report says so.
    public static func exact(_ a: MMOReader, _ b: MMOReader, excluding: Set<String> = [], progress: ((Int, Int) -> Void)? = nil) throws -> ExactReport {
        let namesA = a.blobs.map(\.name), namesB = b.blobs.map(\.name)
        let setA = Set(namesA), setB = Set(namesB)
        var differing: [String] = []
        let common = a.blobs.filter { setB.contains($0.name) }
        for (i, x) in common.enumerated() {
            defer { progress?(i + 1, common.count) }
            guard let y = b.blob(named: x.name) else { continue }
            if x.dtype != y.dtype || x.shape != y.shape {
                differing.append("\(x.name): \(x.dtype.rawValue) \(x.shape) vs \(y.dtype.rawValue) \(y.shape)")
                continue
            }
            if x.length == y.length && x.checksum == y.checksum { continue }
            var note = "\(x.name): contents differ"
            if x.dtype == .f32 {
                let p = FloatBuffer(count: max(1, x.count)), q = FloatBuffer(count: max(1, x.count))
                try a.read(x, into: UnsafeMutableRawBufferPointer(start: p.pointer, count: x.length))
                try b.read(y, into: UnsafeMutableRawBufferPointer(start: q.pointer, count: y.length))
                var elements = 0
                var sums = PairSums()
                sums.add(p.pointer, q.pointer, x.count)
                for k in 0..<x.count where p.pointer[k].bitPattern != q.pointer[k].bitPattern { elements += 1 }
                note += " in \(elements) of \(x.count) elements (max |Δ| \(sums.maxAbs))"
                a.release(x)
                b.release(y)
            }
            differing.append(note)
        }
        let stateA = try a.stateDocument(), stateB = try b.stateDocument()
        var differingState: [String] = []
        if stateA != stateB || !excluding.isEmpty {
            let objectA = try JSONSerialization.jsonObject(with: stateA) as? [String: Any] ?? [:]
            let objectB = try JSONSerialization.jsonObject(with: stateB) as? [String: Any] ?? [:]
            for key in Set(objectA.keys).union(objectB.keys).sorted() where !excluding.contains(key) {
                if let path = firstDifference(objectA[key], objectB[key], path: key) { differingState.append(path) }
            }
        }
        let onlyInA = namesA.filter { !setB.contains($0) }, onlyInB = namesB.filter { !setA.contains($0) }
        return ExactReport(
            identical: differing.isEmpty && differingState.isEmpty && onlyInA.isEmpty && onlyInB.isEmpty,
            blobsCompared: common.count, onlyInA: onlyInA, onlyInB: onlyInB, differingBlobs: differing,
            differingState: differingState, excluded: excluding.sorted())
    }

    /// The dotted path of the first difference between two JSON values, with both values.
    static func firstDifference(_ a: Any?, _ b: Any?, path: String) -> String? {
        switch (a, b) {
        case (nil, nil): return nil
        case (let x as [String: Any], let y as [String: Any]):
            for key in Set(x.keys).union(y.keys).sorted() {
                if let found = firstDifference(x[key], y[key], path: "\(path).\(key)") { return found }
            }
            return nil
        case (let x as [Any], let y as [Any]):
            if x.count != y.count { return "\(path): \(x.count) entries vs \(y.count)" }
            for (i, (p, q)) in zip(x, y).enumerated() {
                if let found = firstDifference(p, q, path: "\(path)[\(i)]") { return found }
            }
            return nil
        default:
            let x = render(a), y = render(b)
            return x == y ? nil : "\(path): \(x) vs \(y)"
        }
    }

    static func render(_ value: Any?) -> String {
        guard let value else { return "absent" }
        if value is NSNull { return "null" }
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) {
            return String(decoding: data, as: UTF8.self).prefix(120).description
        }
        return "\(value)"
    }

    /// For every compatibility key of `checkpoint`'s models at `granularity` (the optimizer's
    /// own grouping), the cosine and relative distance between each pair of models that both
    /// contribute. A model's tensors under one key are compared in registration order with the
    /// other model's (the first `min` of each when the counts differ).
    public static func crossModel(_ checkpoint: Checkpoint, granularity: SharingGranularity) throws -> CrossModelReport {
        let records = checkpoint.state.models
        let specs = try records.map { try checkpoint.specs(of: $0) }
        let groups = CompatibilityGroup.groups(models: specs, granularity: granularity)
        var pairs: [CrossModelPair] = []
        var perKind: [String: (kind: ParameterKind, a: String, b: String, tensors: Int, sums: PairSums, order: Int)] = [:]
        for group in groups {
            // Read the group's tensors once, per model in member order.
            var values: [[FloatBuffer]] = Array(repeating: [], count: records.count)
            for member in group.members {
                let record = records[member.model], spec = specs[member.model][member.tensor]
                let buffer = FloatBuffer(count: spec.count)
                try checkpoint.readTensor(CheckpointNames.parameter(model: record.name, spec.name), shape: spec.shape, into: buffer.pointer)
                if let blob = checkpoint.reader.blob(named: CheckpointNames.parameter(model: record.name, spec.name)) {
                    checkpoint.reader.release(blob)
                }
                values[member.model].append(buffer)
            }
            for i in records.indices where !values[i].isEmpty {
                for j in records.indices where j > i && !values[j].isEmpty {
                    var sums = PairSums()
                    let n = min(values[i].count, values[j].count)
                    for k in 0..<n { sums.add(values[i][k].pointer, values[j][k].pointer, group.elementCount) }
                    pairs.append(
                        CrossModelPair(
                            key: group.key.description, kind: group.kind, modelA: records[i].name, modelB: records[j].name,
                            tensors: n, count: sums.count, cosine: sums.cosine, relativeDistance: sums.relativeDistance))
                    let key = "\(group.kind.rawValue)|\(i)|\(j)"
                    var entry = perKind[key] ?? (group.kind, records[i].name, records[j].name, 0, PairSums(), perKind.count)
                    entry.tensors += n
                    entry.sums.add(sums)
                    perKind[key] = entry
                }
            }
        }
        let kinds = perKind.values.sorted { $0.kind != $1.kind ? $0.kind < $1.kind : $0.order < $1.order }.map {
            CrossModelPair(
                key: $0.kind.rawValue, kind: $0.kind, modelA: $0.a, modelB: $0.b, tensors: $0.tensors, count: $0.sums.count,
                cosine: $0.sums.cosine, relativeDistance: $0.sums.relativeDistance)
        }
        return CrossModelReport(
            path: checkpoint.path, step: checkpoint.state.progress.step, granularity: granularity, pairs: pairs, perKind: kinds)
    }

    /// `crossModel` for every `step-NNNNNN.mmo` of a run folder, in step order (`last.mmo` and
    /// `best-*.mmo` are links to step files and are not repeated).
    public static func crossModelSeries(
        run folder: URL, granularity: SharingGranularity, progress: ((Int, Int) -> Void)? = nil
    ) throws -> [CrossModelReport] {
        let run = RunDirectory(url: folder)
        let steps = run.stepCheckpoints()
        guard !steps.isEmpty else {
            throw TrainingError.io(path: folder.path, reason: "holds no step-NNNNNN.mmo checkpoints; give a run folder of mmo-train")
        }
        var reports: [CrossModelReport] = []
        for (i, step) in steps.enumerated() {
            reports.append(try crossModel(try Checkpoint.open(run.stepURL(step)), granularity: granularity))
            progress?(i + 1, steps.count)
        }
        return reports
    }

    /// A series as CSV: `step,key,kind,modelA,modelB,tensors,cosine,relativeDistance`.
    public static func csv(_ series: [CrossModelReport], perKind: Bool = false) -> String {
        var lines = ["step,key,kind,modelA,modelB,tensors,cosine,relativeDistance"]
        for report in series {
            for p in perKind ? report.perKind : report.pairs {
                let key = p.key.contains(",") ? "\"\(p.key)\"" : p.key
                lines.append("\(report.step),\(key),\(p.kind.rawValue),\(p.modelA),\(p.modelB),\(p.tensors),\(p.cosine),\(p.relativeDistance)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
