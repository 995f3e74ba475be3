// Owned, 64-byte-aligned Float32 storage. A model's parameters, gradients and each optimizer
// moment are one `FloatBuffer` apiece; tensors are views (pointer + count) into it.
import Foundation

/// A contiguous, 64-byte-aligned, zero-initialised array of `Float` that owns its memory.
///
/// Reference semantics on purpose: views handed out by `pointer` stay valid for the buffer's
/// lifetime, and nothing in a hot path copies a buffer by accident.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of elements.
    public let count: Int
    /// Start of the storage; valid for the lifetime of the buffer.
    public let pointer: UnsafeMutablePointer<Float>

    /// Allocates `count` zeroed elements aligned to 64 bytes (a cache line, and AVX-512 width).
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let status = posix_memalign(&raw, 64, bytes)
        precondition(status == 0 && raw != nil, "posix_memalign failed for \(bytes) bytes")
        memset(raw!, 0, bytes)
        pointer = raw!.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Allocates a buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { free(pointer) }

    /// Element access (bounds-checked: for tests and setup code, not for kernels).
    public subscript(index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "FloatBuffer index \(index) out of 0..<\(count)")
            return pointer[index]
        }
        set {
            precondition(index >= 0 && index < count, "FloatBuffer index \(index) out of 0..<\(count)")
            pointer[index] = newValue
        }
    }

    /// Sets every element to zero.
    public func zero() { memset(pointer, 0, count * MemoryLayout<Float>.stride) }

    /// Copies all elements from `other`, which must have the same count.
    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "FloatBuffer.copy: count \(other.count) != \(count)")
        pointer.update(from: other.pointer, count: count)
    }

    /// The elements as a Swift array (allocates; for tests, logging and serialisation).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// The storage as an unsafe buffer.
    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}
