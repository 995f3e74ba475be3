// The tensor pairs behind `GradientSimilarity`, laid out once at construction so that computing
// the similarities each step is one fused dot/norm pass per pair and allocates nothing.
import MMOCore

/// Precomputed (kind, model pair) entries and the tensor pairs that feed each.
struct SimilarityPlan {
    /// One paired tensor range: model A's tensor at `offsetA`, model B's at `offsetB`.
    struct Pair {
        var entry: Int
        var offsetA: Int
        var offsetB: Int
        var count: Int
    }

    /// Report entries, sorted by kind, then model A, then model B; cosines unset.
    let entries: [GradientSimilarity]
    let pairs: [Pair]

    init(groups: [CompatibilityGroup], offsets: [[Int]]) {
        struct EntryKey: Hashable, Comparable {
            var kind: ParameterKind
            var a: Int
            var b: Int
            static func < (x: EntryKey, y: EntryKey) -> Bool {
                (x.kind, x.a, x.b) < (y.kind, y.a, y.b)
            }
        }
        var raw: [(EntryKey, offsetA: Int, offsetB: Int, count: Int)] = []
        for group in groups {
            var tensorsByModel: [Int: [Int]] = [:]
            for member in group.members { tensorsByModel[member.model, default: []].append(member.tensor) }
            let models = tensorsByModel.keys.sorted()
            for (ia, a) in models.enumerated() {
                for b in models[(ia + 1)...] {
                    let ta = tensorsByModel[a]!
                    let tb = tensorsByModel[b]!
                    for k in 0..<min(ta.count, tb.count) {
                        raw.append(
                            (EntryKey(kind: group.kind, a: a, b: b), offsets[a][ta[k]], offsets[b][tb[k]],
                             group.elementCount))
                    }
                }
            }
        }
        let keys = Set(raw.map(\.0)).sorted()
        let index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        entries = keys.map { GradientSimilarity(kind: $0.kind, modelA: $0.a, modelB: $0.b, cosine: nil) }
        pairs = raw.map { Pair(entry: index[$0.0]!, offsetA: $0.offsetA, offsetB: $0.offsetB, count: $0.count) }
    }
}
