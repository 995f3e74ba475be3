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
    /// Members of all groups back to back; group `g` owns `groupStart[g] ..< groupStart[g + 1]`.
    private let memberModel: [Int]
    private let memberOffset: [Int]
    private let groupStart: [Int]
    private let groupElements: [Int]
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
    public func mix(_ base: [UnsafeMutablePointer<Float>], coefficient: Double, active: [Bool], pool: WorkerPool? = nil, gated: Bool = false) {
        if coefficient == 0 { return }
        if gated { computeAgreement(base, active: active) }
        guard let pool, pool.lanes > 1 else {
            mix(base, coefficient: coefficient, active: active, gated: gated, lane: 0, lanes: 1)
            return
        }
        precondition(scratch.count >= pool.lanes, "GroupMixer: reserve(lanes:) before mixing on \(pool.lanes) lanes")
        pending = (base, coefficient, active, gated)
        pool.run(self)
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
        let keep = Float(1 - coefficient)
        let take = Float(coefficient)
        let sum = scratch[lane].pointer
        for g in groups.indices {
            let members = groupStart[g]..<groupStart[g + 1]
            let (lo, hi) = FlatKernels.slice(groupElements[g], lane: lane, of: lanes)
            let n = hi - lo
            if n == 0 { continue }
            var distinct = 0
            var last = -1
            for k in members where active[memberModel[k]] && memberModel[k] != last {
                distinct += 1
                last = memberModel[k]
            }
            if distinct < 2 { continue }
            if gated && !groupAgrees[g] {
                mixGated(g, base, active: active, keep: keep, take: take, lo: lo, hi: hi, lane: lane)
                continue
            }
            var totalWeight = 0.0
            var first = true
            for k in members where active[memberModel[k]] {
                let weight = weights[memberModel[k]]
                FlatKernels.accumulate(
                    into: sum, base[memberModel[k]] + memberOffset[k] + lo, n, weight: Float(weight), first: first)
                totalWeight += weight
                first = false
            }
            FlatKernels.divide(sum, n, by: Float(totalWeight))
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
