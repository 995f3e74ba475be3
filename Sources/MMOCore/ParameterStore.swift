// One model's parameters and gradients, each in a single contiguous buffer, with a named view
// per registered tensor. The optimizer runs flat loops over these buffers.

/// Flat storage for a list of `ParameterSpec`s: `values` and `gradients` are one allocation each,
/// tensor `i` occupies `offsets[i] ..< offsets[i] + specs[i].count` in both.
public final class ParameterStore: @unchecked Sendable {
    /// The registered tensors, in layout order.
    public let specs: [ParameterSpec]
    /// Element offset of each tensor inside `values` / `gradients`.
    public let offsets: [Int]
    /// Total number of elements (sum of all tensor counts, no padding).
    public let totalCount: Int
    /// All parameter values, one allocation.
    public let values: FloatBuffer
    /// All gradients, same layout as `values`.
    public let gradients: FloatBuffer
    private let indexByName: [String: Int]

    /// Lays out `specs` back to back. Names must be unique.
    public init(specs: [ParameterSpec]) {
        var offsets: [Int] = []
        offsets.reserveCapacity(specs.count)
        var total = 0
        var index: [String: Int] = [:]
        for (i, spec) in specs.enumerated() {
            precondition(index[spec.name] == nil, "duplicate parameter name \(spec.name)")
            precondition(spec.shape.allSatisfy { $0 > 0 }, "parameter \(spec.name) has shape \(spec.shape)")
            index[spec.name] = i
            offsets.append(total)
            total += spec.count
        }
        self.specs = specs
        self.offsets = offsets
        self.totalCount = total
        self.indexByName = index
        self.values = FloatBuffer(count: total)
        self.gradients = FloatBuffer(count: total)
    }

    /// Index of the tensor called `name`, if registered.
    public func index(of name: String) -> Int? { indexByName[name] }

    /// View of tensor `i`'s values.
    @inline(__always)
    public func value(_ i: Int) -> UnsafeMutablePointer<Float> { values.pointer + offsets[i] }

    /// View of tensor `i`'s gradient.
    @inline(__always)
    public func gradient(_ i: Int) -> UnsafeMutablePointer<Float> { gradients.pointer + offsets[i] }

    /// View of the tensor called `name` (precondition: registered). For setup code.
    public func value(named name: String) -> UnsafeMutablePointer<Float> {
        guard let i = indexByName[name] else { preconditionFailure("no parameter named \(name)") }
        return value(i)
    }

    /// Gradient view of the tensor called `name` (precondition: registered). For setup code.
    public func gradient(named name: String) -> UnsafeMutablePointer<Float> {
        guard let i = indexByName[name] else { preconditionFailure("no parameter named \(name)") }
        return gradient(i)
    }

    /// Zeroes every gradient (backward passes accumulate).
    public func zeroGradients() { gradients.zero() }
}
