// A 2-D principal-component projection of each model's attention weights over a run's
// checkpoints: one point per model per checkpoint. With N points of D values each (D in the
// millions, N a few dozen), PCA goes through the small N × N Gram matrix of the centred points:
// its eigenvectors u_k and eigenvalues λ_k give the scores √λ_k · u_k, the same as projecting on
// the covariance's leading eigenvectors, without ever forming a D × D matrix. The Gram matrix is
// accumulated tensor by tensor (all N copies of one tensor in memory at a time), centred per
// element before the products so that the small differences between checkpoints of one model do
// not drown in the rounding of large raw dot products.
import Foundation
import MMOCore
import MMOFormat
import MMOModels
import MMOOptim
import MMORun

/// Eigen-decomposition of a small symmetric matrix (cyclic Jacobi rotations).
public enum SymmetricEigen {
    /// Eigenvalues in descending order and the matching unit eigenvectors (`vectors[k]` is the
    /// k-th). Each vector's largest-magnitude entry is made positive, so the result is deterministic.
    public static func decompose(_ matrix: [[Double]], maxSweeps: Int = 100) -> (values: [Double], vectors: [[Double]]) {
        let n = matrix.count
        guard n > 0 else { return ([], []) }
        var a = matrix
        var v = (0..<n).map { i in (0..<n).map { $0 == i ? 1.0 : 0.0 } }
        let scale = max(1e-300, a.enumerated().reduce(0.0) { $0 + $1.element.reduce(0) { $0 + $1 * $1 } })
        for _ in 0..<maxSweeps {
            var off = 0.0
            for p in 0..<n { for q in 0..<n where q != p { off += a[p][q] * a[p][q] } }
            if off <= 1e-28 * scale { break }
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let apq = a[p][q]
                    if abs(apq) <= 1e-300 { continue }
                    let theta = (a[q][q] - a[p][p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k][p], akq = a[k][q]
                        a[k][p] = c * akp - s * akq
                        a[k][q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p][k], aqk = a[q][k]
                        a[p][k] = c * apk - s * aqk
                        a[q][k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k][p], vkq = v[k][q]
                        v[k][p] = c * vkp - s * vkq
                        v[k][q] = s * vkp + c * vkq
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0][$0] > a[$1][$1] }
        let values = order.map { a[$0][$0] }
        let vectors = order.map { j -> [Double] in
            var column = (0..<n).map { v[$0][j] }
            if let big = column.max(by: { abs($0) < abs($1) }), big < 0 { column = column.map { -$0 } }
            return column
        }
        return (values, vectors)
    }
}

/// The first two principal components of N points given by their centred Gram matrix.
public struct PrincipalComponents: Sendable {
    /// Scores on PC1 and PC2, one per point.
    public var scores: [ChartPoint]
    /// Variance fraction of PC1 and PC2 (0 when there is no variance).
    public var explained: [Double]

    /// From the centred Gram matrix `gram[i][j] = (x_i − x̄)·(x_j − x̄)`.
    public init(centredGram gram: [[Double]]) {
        let (values, vectors) = SymmetricEigen.decompose(gram)
        let total = values.reduce(0) { $0 + max(0, $1) }
        func score(_ k: Int, _ i: Int) -> Double {
            k < values.count && values[k] > 0 ? values[k].squareRoot() * vectors[k][i] : 0
        }
        scores = gram.indices.map { ChartPoint(score(0, $0), score(1, $0)) }
        explained = (0..<2).map { k in k < values.count && total > 0 ? max(0, values[k]) / total : 0 }
    }

    /// Directly from rows of data (for small inputs and tests): centres, forms the Gram matrix.
    public init(rows: [[Double]]) {
        let n = rows.count, d = rows.first?.count ?? 0
        var mean = [Double](repeating: 0, count: d)
        for r in rows { for j in 0..<d { mean[j] += r[j] / Double(n) } }
        let centred = rows.map { r in (0..<d).map { r[$0] - mean[$0] } }
        let gram = (0..<n).map { i in (0..<n).map { j in zip(centred[i], centred[j]).reduce(0) { $0 + $1.0 * $1.1 } } }
        self.init(centredGram: gram)
    }
}

/// The attention-weight projection of a run.
public struct AttentionProjection: Sendable {
    /// One entry per model per checkpoint.
    public struct Point: Sendable, Equatable {
        public var model: String
        public var step: Int
        public var pc1: Double
        public var pc2: Double
    }
    public var points: [Point]
    /// Variance fractions of PC1, PC2.
    public var explained: [Double]
    /// Values per point (the length of each model's flattened attention vector).
    public var dimension: Int
    /// Tensors per model in the vector, and the per-model parameter names used (in order).
    public var tensorNames: [String: [String]]
    /// Compatibility keys (kind attention, granularity paper) the vector is made of.
    public var keys: [String]
    /// The checkpoint steps used.
    public var steps: [Int]

    /// Builds the projection from `steps` (checkpoint step numbers of `folder`; at most
    /// `maxCheckpoints`, evenly spaced, first and last kept). Each model's vector is the
    /// concatenation, over every attention key `(kind, shape)` that *every* model has, of its
    /// first n tensors under that key in registration order (n: the smallest count among the
    /// models), so all vectors have one length and line up tensor for tensor as the optimizer
    /// pairs them. Returns nil with a reason when there is nothing to project.
    public static func compute(
        run folder: URL, steps allSteps: [Int], maxCheckpoints: Int = 60, progress: ((Int, Int) -> Void)? = nil
    ) throws -> (AttentionProjection?, String?) {
        guard !allSteps.isEmpty else { return (nil, "the run folder holds no step-NNNNNN.mmo checkpoints") }
        var steps = allSteps
        if steps.count > maxCheckpoints {
            let m = maxCheckpoints
            steps = (0..<m).map { allSteps[Int((Double($0) * Double(allSteps.count - 1) / Double(m - 1)).rounded())] }
        }
        let run = RunDirectory(url: folder)
        let checkpoints = try steps.map { step -> Checkpoint in
            do { return try Checkpoint.open(run.stepURL(step)) } catch { throw ReportError("\(error)") }
        }
        let records = checkpoints.last!.state.models
        let specs = try records.map { r -> [ParameterSpec] in
            do { return try checkpoints.last!.specs(of: r) } catch { throw ReportError("\(error)") }
        }
        let groups = CompatibilityGroup.groups(models: specs, granularity: .paper).filter { $0.kind == .attention }
        // (key, per model the tensor indices) for keys every model has.
        var layout: [(key: String, count: Int, tensors: [[Int]])] = []
        for group in groups {
            let perModel = records.indices.map { m in group.members.filter { $0.model == m }.map(\.tensor) }
            let n = perModel.map(\.count).min() ?? 0
            if n > 0 { layout.append((group.key.description, group.elementCount, perModel.map { Array($0.prefix(n)) })) }
        }
        guard !layout.isEmpty else {
            return (nil, "no attention parameter shape is common to all models (\(records.map(\.name).joined(separator: ", ")))")
        }
        let models = records.count, n = models * checkpoints.count
        var gram = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        let largest = layout.map(\.count).max()!
        let buffers = (0..<n).map { _ in FloatBuffer(count: largest) }
        var centred = [[Double]](repeating: [Double](repeating: 0, count: largest), count: n)
        var tensorNames: [String: [String]] = [:]
        var dimension = 0
        let totalTensors = layout.reduce(0) { $0 + $1.tensors[0].count }
        var done = 0
        for entry in layout {
            for k in 0..<entry.tensors[0].count {
                let count = entry.count
                for (c, checkpoint) in checkpoints.enumerated() {
                    for m in 0..<models {
                        let spec = specs[m][entry.tensors[m][k]]
                        guard let record = checkpoint.state.model(named: records[m].name) else {
                            throw ReportError("\(checkpoint.path): has no model '\(records[m].name)' (the models changed during the run?)")
                        }
                        let name = CheckpointNames.parameter(model: record.name, spec.name)
                        do { try checkpoint.readTensor(name, shape: spec.shape, into: buffers[c * models + m].pointer) } catch {
                            throw ReportError("\(error)")
                        }
                        if let blob = checkpoint.reader.blob(named: name) { checkpoint.reader.release(blob) }
                    }
                }
                for m in 0..<models { tensorNames[records[m].name, default: []].append(specs[m][entry.tensors[m][k]].name) }
                // Centre element-wise over the N points, then accumulate the products.
                for e in 0..<count {
                    var mean = 0.0
                    for i in 0..<n { mean += Double(buffers[i].pointer[e]) }
                    mean /= Double(n)
                    for i in 0..<n { centred[i][e] = Double(buffers[i].pointer[e]) - mean }
                }
                for i in 0..<n {
                    centred[i].withUnsafeBufferPointer { xi in
                        for j in i..<n {
                            var dot = 0.0
                            centred[j].withUnsafeBufferPointer { xj in
                                for e in 0..<count { dot += xi[e] * xj[e] }
                            }
                            gram[i][j] += dot
                        }
                    }
                }
                dimension += count
                done += 1
                progress?(done, totalTensors)
            }
        }
        for i in 0..<n { for j in 0..<i { gram[i][j] = gram[j][i] } }
        let pca = PrincipalComponents(centredGram: gram)
        var points: [Point] = []
        for m in 0..<models {
            for (c, step) in steps.enumerated() {
                let s = pca.scores[c * models + m]
                points.append(Point(model: records[m].name, step: step, pc1: s.x, pc2: s.y))
            }
        }
        return (
            AttentionProjection(
                points: points, explained: pca.explained, dimension: dimension, tensorNames: tensorNames,
                keys: layout.map(\.key), steps: steps), nil
        )
    }
}
