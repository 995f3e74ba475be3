// Compatibility keys (paper §3.2, Alg. 1 line 4) and the groups of tensors that share one. A group
// exists only if at least two different models contribute; its members are in model order, then in
// each model's registration order, so every sum over a group has one fixed order (determinism).
import MMOCore

/// The class a parameter falls into for sharing and synchronization, at a given granularity.
public struct CompatibilityKey: Hashable, Codable, Sendable, CustomStringConvertible {
    /// Function class; set at `paper` granularity only.
    public var kind: ParameterKind?
    /// Role (e.g. `attention.query.weight`); set at `role` and `layer` granularity.
    public var role: String?
    /// Transformer block index; meaningful at `layer` granularity only (nil outside blocks).
    public var block: Int?
    /// Tensor shape; part of every key.
    public var shape: [Int]

    /// The key of `spec` at `granularity`.
    public init(spec: ParameterSpec, granularity: SharingGranularity) {
        switch granularity {
        case .paper:
            kind = spec.kind
            role = nil
            block = nil
        case .role:
            kind = nil
            role = spec.role
            block = nil
        case .layer:
            kind = nil
            role = spec.role
            block = spec.block
        }
        shape = spec.shape
    }

    /// E.g. `attention[256, 256]`, `attention.query.weight[256, 256]`, `norm.weight@3[256]`.
    public var description: String {
        let name = kind?.rawValue ?? role ?? "?"
        let layer = block.map { "@\($0)" } ?? ""
        return "\(name)\(layer)\(shape)"
    }
}

/// One tensor of one model taking part in a compatibility group.
public struct GroupMember: Hashable, Sendable {
    /// Index of the model in the optimizer's model list.
    public var model: Int
    /// Index of the tensor in that model's `ParameterStore.specs`.
    public var tensor: Int
}

/// The tensors of all models that share one compatibility key, at least two models among them.
public struct CompatibilityGroup: Hashable, Sendable {
    /// The shared key.
    public var key: CompatibilityKey
    /// Function class of the members (at `role`/`layer` granularity: that of the first member).
    public var kind: ParameterKind
    /// Elements per member tensor.
    public var elementCount: Int
    /// Contributing tensors, ordered by model, then by registration order inside the model.
    public var members: [GroupMember]

    /// Number of different models among the members.
    public var modelCount: Int { Set(members.map(\.model)).count }

    /// The groups of `models` (one spec list per model) at `granularity`, in order of first
    /// appearance. Keys that only one model contributes to are left out: Alg. 1 and 2 would mix
    /// such a tensor only with itself (or with its own siblings), which is not sharing.
    public static func groups(
        models: [[ParameterSpec]], granularity: SharingGranularity
    ) -> [CompatibilityGroup] {
        var order: [CompatibilityKey] = []
        var byKey: [CompatibilityKey: CompatibilityGroup] = [:]
        for (m, specs) in models.enumerated() {
            for (t, spec) in specs.enumerated() {
                let key = CompatibilityKey(spec: spec, granularity: granularity)
                if byKey[key] == nil {
                    order.append(key)
                    byKey[key] = CompatibilityGroup(
                        key: key, kind: spec.kind, elementCount: spec.count, members: [])
                }
                byKey[key]!.members.append(GroupMember(model: m, tensor: t))
            }
        }
        return order.compactMap { key in
            let group = byKey[key]!
            return group.modelCount >= 2 ? group : nil
        }
    }
}
