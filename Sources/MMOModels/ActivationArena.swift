// Carves a model's activation and scratch buffers out of one allocation. Layout happens twice:
// once to measure (no memory), once for real; views are sized for the largest batch shape seen,
// so every smaller batch fits and a steady-state step allocates nothing.
import MMOCore

/// Hands out 64-byte-aligned `Float` views of one `FloatBuffer`, and `Int32` views of one
/// integer allocation.
struct ActivationArena {
    private let floatBase: UnsafeMutablePointer<Float>?
    private let intBase: UnsafeMutablePointer<Int32>?
    /// Floats handed out so far (rounded up to 16 per view).
    private(set) var floatCount = 0
    /// Int32s handed out so far (rounded up to 16 per view).
    private(set) var intCount = 0

    /// A measuring arena: views are placeholders that must never be dereferenced.
    static func measuring() -> ActivationArena { ActivationArena(floats: nil, ints: nil) }

    init(floats: UnsafeMutablePointer<Float>?, ints: UnsafeMutablePointer<Int32>?) {
        floatBase = floats
        intBase = ints
    }

    /// A view of `count` floats.
    mutating func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        defer { floatCount += (count + 15) / 16 * 16 }
        guard let floatBase else { return Self.placeholder(Float.self) }
        return floatBase + floatCount
    }

    /// A view of `count` floats when `needed`, else nil (buffers of disabled dropout).
    mutating func floats(_ count: Int, if needed: Bool) -> UnsafeMutablePointer<Float>? {
        needed ? floats(count) : nil
    }

    /// A view of `count` Int32s.
    mutating func ints(_ count: Int) -> UnsafeMutablePointer<Int32> {
        defer { intCount += (count + 15) / 16 * 16 }
        guard let intBase else { return Self.placeholder(Int32.self) }
        return intBase + intCount
    }

    private static func placeholder<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        // A well-aligned, never-dereferenced address: measuring only counts.
        UnsafeMutablePointer<T>(bitPattern: 64)!
    }
}

/// Owns the memory behind an `ActivationArena` layout of type `Layout` and re-lays it out only
/// when a batch needs a larger shape than any before.
final class Workspace<Layout> {
    private(set) var maxBatchSize = 0
    private(set) var maxSequenceLength = 0
    private(set) var layout: Layout?
    private var floats: FloatBuffer?
    private var ints: UnsafeMutablePointer<Int32>?
    private let build: (inout ActivationArena, _ batchSize: Int, _ sequenceLength: Int) -> Layout
    /// How many times memory was (re)allocated; tests use it to prove reuse.
    private(set) var allocations = 0

    init(build: @escaping (inout ActivationArena, Int, Int) -> Layout) { self.build = build }

    deinit { ints?.deallocate() }

    /// The layout for a `(batchSize, sequenceLength)` batch, growing the memory if needed.
    func reserve(batchSize: Int, sequenceLength: Int) -> Layout {
        if let layout, batchSize <= maxBatchSize, sequenceLength <= maxSequenceLength { return layout }
        let b = max(batchSize, maxBatchSize), t = max(sequenceLength, maxSequenceLength)
        var measure = ActivationArena.measuring()
        _ = build(&measure, b, t)
        let newFloats = FloatBuffer(count: measure.floatCount)
        ints?.deallocate()
        let newInts = UnsafeMutablePointer<Int32>.allocate(capacity: max(measure.intCount, 1))
        newInts.initialize(repeating: 0, count: max(measure.intCount, 1))
        var arena = ActivationArena(floats: newFloats.pointer, ints: newInts)
        let newLayout = build(&arena, b, t)
        floats = newFloats
        ints = newInts
        layout = newLayout
        maxBatchSize = b
        maxSequenceLength = t
        allocations += 1
        return newLayout
    }

    /// Bytes currently held.
    var bytes: Int { (floats?.count ?? 0) * 4 }
}
