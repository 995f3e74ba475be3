// The group mixing of Algorithms 1 and 2: per compatibility group, the weighted average of the
// members' tensors, then every member moved toward it. One implementation, used by the optimizer
// (on gradients for sharing, on values for synchronization) and by offline synchronization of a
// checkpoint (`mmo-merge --method sync`), so that both give bit-identical results.
import MMOCore

/// Mixes the tensors of compatibility groups across models. Layout and scratch are fixed at
/// construction; `mix` allocates nothing.
public final class GroupMixer: LaneJob {
    /// The groups (keys with ≥ 2 models), in order of first appearance.
    public let groups: [CompatibilityGroup]
    /// Model weights w_i, the averages' weights.
    public let weights: [Double]
    /// Members of all groups back to back; group `g` owns `groupStart[g] ..< groupStart[g + 1]`
    /// (read by the optimizer's fused element pass).
    let memberModel: [Int]
    let memberOffset: [Int]
    let groupStart: [Int]
    let groupElements: [Int]
    /// The coefficients of the mix in progress (`mix`), sized once.
    private var current: Coefficients
    /// Weighted sum / average of one group (sized for the largest group); one per lane.
    private var scratch: [FloatBuffer]
    /// The arguments of the mix in progress on a pool (read by `runLane`).
    private var pending: (base: [UnsafeMutablePointer<Float>], coefficient: Double, active: [Bool], gated: Bool) = ([], 0, [], false)
    /// The agreement gate's pair table: for group `g`, `agree[agreeStart[g] + a·M + b]` (M its
    /// member count) says whether members a and b have a positive dot product this mix.
    private var agree: [Bool]
    private let agreeStart: [Int]
    /// Per group: every pair of active members agrees (the gate changes nothing).
    private var groupAgrees: [Bool]
    /// Pairs of distinct active members compared and found agreeing in the last gated mix.
    public private(set) var lastAgreement: (agreeing: Int, pairs: Int) = (0, 0)
    /// Elements per chunk of the gated mix; its scratch holds one chunk per member.
    static let gateChunk = 1024
    /// One row of `gateChunk` per member of the largest group; one per lane.
    private var gateScratch: [FloatBuffer]

    /// A mixer for `groups` over models whose tensor `t` of model `m` starts at element
    /// `offsets[m][t]` of that model's flat buffer.
    public init(groups: [CompatibilityGroup], offsets: [[Int]], weights: [Double]) {
        precondition(offsets.count == weights.count, "one offset list and one weight per model")
        self.groups = groups
        self.weights = weights
        var memberModel: [Int] = []
        var memberOffset: [Int] = []
        var groupStart: [Int] = [0]
        for group in groups {
            for member in group.members {
                memberModel.append(member.model)
                memberOffset.append(offsets[member.model][member.tensor])
            }
            groupStart.append(memberModel.count)
        }
        self.memberModel = memberModel
        self.memberOffset = memberOffset
        self.groupStart = groupStart
        groupElements = groups.map(\.elementCount)
        scratch = [FloatBuffer(count: groups.map(\.elementCount).max() ?? 0)]
        var agreeStart = [0]
        for g in groups.indices {
            let m = groupStart[g + 1] - groupStart[g]
            agreeStart.append(agreeStart[g] + m * m)
        }
        self.agreeStart = agreeStart
        agree = Array(repeating: true, count: agreeStart.last!)
        groupAgrees = Array(repeating: true, count: groups.count)
        let widest = zip(groupStart.dropFirst(), groupStart).map { $0 - $1 }.max() ?? 0
        gateScratch = [FloatBuffer(count: widest * Self.gateChunk)]
        current = Coefficients(groups: groups.count)
    }

    /// Per group, the Float coefficients of one ungated mix, fixed before any element is touched:
    /// the element loops (`mix` here, the optimizer's fused pass) only read them, so a rule that
    /// decides which groups mix and how strongly changes `coefficients(_:active:into:)` alone.
    public struct Coefficients: Sendable {
        /// Whether group `g` mixes (≥ 2 distinct active models and a coefficient ≠ 0).
        public internal(set) var mixes: [Bool]
        /// `1 − c` per group.
        public internal(set) var keep: [Float]
        /// `c` per group.
        public internal(set) var take: [Float]
        /// `Σ w` over the group's active members, rounded to Float (the average's divisor).
        public internal(set) var totalWeight: [Float]

        /// Coefficients for `groups` groups, none mixing.
        public init(groups: Int) {
            mixes = Array(repeating: false, count: groups)
            keep = Array(repeating: 1, count: groups)
            take = Array(repeating: 0, count: groups)
            totalWeight = Array(repeating: 0, count: groups)
        }
    }

    /// Fills `c` for a mix with coefficient `coefficient` over the models marked `active`
    /// (allocates nothing when `c` was made for these groups). A group left with one active
    /// model does not mix: mixing a tensor with itself would only add rounding.
    public func coefficients(_ coefficient: Double, active: [Bool], into c: inout Coefficients) {
        precondition(c.mixes.count == groups.count, "Coefficients made for \(c.mixes.count) groups, mixer has \(groups.count)")
        for g in groups.indices {
            var distinct = 0
            var last = -1
            var totalWeight = 0.0
            for k in groupStart[g]..<groupStart[g + 1] where active[memberModel[k]] {
                if memberModel[k] != last { distinct += 1 }
                last = memberModel[k]
                totalWeight += weights[memberModel[k]]
            }
            c.mixes[g] = coefficient != 0 && distinct >= 2
            c.keep[g] = Float(1 - coefficient)
            c.take[g] = Float(coefficient)
            c.totalWeight[g] = Float(totalWeight)
        }
    }

    /// Allocates the scratch `mix` needs to run on `lanes` lanes (call before the first such mix).
    public func reserve(lanes: Int) {
        while scratch.count < lanes { scratch.append(FloatBuffer(count: scratch[0].count)) }
        while gateScratch.count < lanes { gateScratch.append(FloatBuffer(count: gateScratch[0].count)) }
    }

    /// A mixer for models laid out as `stores` (one per model) at `granularity`.
    public convenience init(stores: [ParameterStore], granularity: SharingGranularity, weights: [Double]) {
        self.init(
            groups: CompatibilityGroup.groups(models: stores.map(\.specs), granularity: granularity),
            offsets: stores.map(\.offsets), weights: weights)
    }

    /// Alg. 1 (on gradients) or Alg. 2 (on values): per group with ≥ 2 active models,
    /// `avg = Σ w·x / Σ w` over the active members' tensors, then `x ← (1 − c)·x + c·avg`.
    /// `base[m]` is model m's flat buffer. Models not `active` neither contribute nor receive; a
    /// group left with one active model is not touched (mixing a tensor with itself would only
    /// add rounding). Sums run in member order, so the result is the same on every call.
    ///
    /// `gated` (the agreement gate, `optimizer.sharingGate: agreement`): member a's average runs
    /// only over a and the members b with `x_a · x_b > 0` (cosine > 0), so nothing is mixed into
    /// a tensor against its own direction; a member no other agrees with is left as it is. When
    /// every pair of a group agrees this is exactly the ungated mix, bit for bit.
    ///
    /// On `pool`, the mix uses `lanes` of its lanes (default: all; the same bits for any count).
    public func mix(
        _ base: [UnsafeMutablePointer<Float>], coefficient: Double, active: [Bool], pool: WorkerPool? = nil,
        lanes: Int? = nil, gated: Bool = false
    ) {
        if coefficient == 0 { return }
        coefficients(coefficient, active: active, into: &current)
        if gated { computeAgreement(base, active: active) }
        let count = min(lanes ?? pool?.lanes ?? 1, pool?.lanes ?? 1)
        guard let pool, count > 1 else {
            mix(base, coefficient: coefficient, active: active, gated: gated, lane: 0, lanes: 1)
            return
        }
        precondition(scratch.count >= count, "GroupMixer: reserve(lanes:) before mixing on \(count) lanes")
        pending = (base, coefficient, active, gated)
        pool.run(self, lanes: count)
        pending = ([], 0, [], false)
    }

    /// One lane of the mix `mix(_:coefficient:active:pool:gated:)` started.
    public func runLane(_ lane: Int, of lanes: Int) {
        mix(pending.base, coefficient: pending.coefficient, active: pending.active, gated: pending.gated, lane: lane, lanes: lanes)
    }

    /// The gate's pair table: one dot product per pair of distinct active members of a group
    /// (whole tensors, on the caller, in a fixed order: the same for any lane count).
    private func computeAgreement(_ base: [UnsafeMutablePointer<Float>], active: [Bool]) {
        var agreeing = 0, pairs = 0
        for g in groups.indices {
            let first = groupStart[g], m = groupStart[g + 1] - first, n = groupElements[g]
            var all = true
            for a in 0..<m {
                agree[agreeStart[g] + a * m + a] = true
                for b in (a + 1)..<max(a + 1, m) {
                    let ka = first + a, kb = first + b
                    var positive = false
                    if active[memberModel[ka]] && active[memberModel[kb]] {
                        let d = FlatKernels.dotAndNorms(base[memberModel[ka]] + memberOffset[ka], base[memberModel[kb]] + memberOffset[kb], n).dot
                        positive = d > 0
                        pairs += 1
                        if positive { agreeing += 1 } else { all = false }
                    }
                    agree[agreeStart[g] + a * m + b] = positive
                    agree[agreeStart[g] + b * m + a] = positive
                }
            }
            groupAgrees[g] = all
        }
        lastAgreement = (agreeing, pairs)
    }

    /// Lane `lane` of `lanes`: the same arithmetic on its slice of every group's elements. Every
    /// operation is element-wise across members, so how the elements are split cannot change a
    /// bit of the result.
    private func mix(_ base: [UnsafeMutablePointer<Float>], coefficient: Double, active: [Bool], gated: Bool, lane: Int, lanes: Int) {
        let sum = scratch[lane].pointer
        for g in groups.indices where current.mixes[g] {
            let members = groupStart[g]..<groupStart[g + 1]
            let (lo, hi) = FlatKernels.slice(groupElements[g], lane: lane, of: lanes)
            let n = hi - lo
            if n == 0 { continue }
            let keep = current.keep[g], take = current.take[g]
            if gated && !groupAgrees[g] {
                mixGated(g, base, active: active, keep: keep, take: take, lo: lo, hi: hi, lane: lane)
                continue
            }
            var first = true
            for k in members where active[memberModel[k]] {
                FlatKernels.accumulate(
                    into: sum, base[memberModel[k]] + memberOffset[k] + lo, n, weight: Float(weights[memberModel[k]]), first: first)
                first = false
            }
            FlatKernels.divide(sum, n, by: current.totalWeight[g])
            for k in members where active[memberModel[k]] {
                FlatKernels.mix(base[memberModel[k]] + memberOffset[k] + lo, sum, n, keep: keep, take: take)
            }
        }
    }

    /// The gated mix of group `g` on elements `lo ..< hi`: chunk by chunk, every receiving
    /// member's own average (over itself and the members it agrees with) into its scratch row
    /// first, then each member moved toward its row, so every average reads unmixed tensors. Per
    /// element the same operations, in the same member order, as the ungated mix.
    private func mixGated(
        _ g: Int, _ base: [UnsafeMutablePointer<Float>], active: [Bool], keep: Float, take: Float, lo: Int, hi: Int, lane: Int
    ) {
        let first = groupStart[g], m = groupStart[g + 1] - first
        let rows = gateScratch[lane].pointer
        var start = lo
        while start < hi {
            let n = min(Self.gateChunk, hi - start)
            for a in 0..<m where active[memberModel[first + a]] {
                let row = rows + a * Self.gateChunk
                var totalWeight = 0.0
                var firstTerm = true
                for b in 0..<m where active[memberModel[first + b]] && agree[agreeStart[g] + a * m + b] {
                    let weight = weights[memberModel[first + b]]
                    FlatKernels.accumulate(
                        into: row, base[memberModel[first + b]] + memberOffset[first + b] + start, n, weight: Float(weight), first: firstTerm)
                    totalWeight += weight
                    firstTerm = false
                }
                FlatKernels.divide(row, n, by: Float(totalWeight))
            }
            for a in 0..<m where active[memberModel[first + a]] {
                // A member no other agrees with keeps its tensor (its "average" is itself).
                var partners = false
                for b in 0..<m where b != a && active[memberModel[first + b]] && agree[agreeStart[g] + a * m + b] { partners = true }
                if !partners { continue }
                FlatKernels.mix(base[memberModel[first + a]] + memberOffset[first + a] + start, rows + a * Self.gateChunk, n, keep: keep, take: take)
            }
            start += n
        }
    }
}
