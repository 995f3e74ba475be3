// What the optimizer, the checkpoint and export know about a parameter: its name, shape and
// role. Everything that depends on a parameter's function follows from these fields, never from
// matching substrings of its name.

/// The function class of a parameter, as the paper classifies them (§3.2).
public enum ParameterKind: String, Codable, CaseIterable, Sendable, Comparable {
    case embedding, attention, ffn, norm, head

    /// Orders kinds as declared (embedding, attention, ffn, norm, head).
    public static func < (a: ParameterKind, b: ParameterKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One registered parameter tensor of a model.
public struct ParameterSpec: Hashable, Codable, Sendable {
    /// Hugging Face dotted name, e.g. `bert.encoder.layer.0.attention.self.query.weight`.
    public var name: String
    /// Row-major shape; linear weights are `[out, in]`.
    public var shape: [Int]
    /// Function class (the paper's "type").
    public var kind: ParameterKind
    /// Finer role shared across families, e.g. `attention.query.weight`, `ffn.out.bias`,
    /// `norm.weight`, `embedding.word`.
    public var role: String
    /// Transformer block index, nil outside blocks.
    public var block: Int?
    /// Whether AdamW's decoupled weight decay applies (matrices and embeddings yes; biases and
    /// norm parameters no).
    public var weightDecay: Bool

    /// A spec; `block` is nil outside transformer blocks.
    public init(
        name: String, shape: [Int], kind: ParameterKind, role: String, block: Int? = nil,
        weightDecay: Bool
    ) {
        self.name = name
        self.shape = shape
        self.kind = kind
        self.role = role
        self.block = block
        self.weightDecay = weightDecay
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}
