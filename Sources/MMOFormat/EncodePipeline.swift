// Encodes blobs on several threads and writes them in file order as soon as each next one is
// ready, so that compression and the copy into the page cache overlap. At most `window` blobs
// are in flight, and their output buffers are recycled, which bounds memory and avoids paying
// fresh-page faults for every blob.

import Dispatch
import Foundation

/// A locked pool of output buffers, reused across blobs of one write.
final class OutputBufferPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [UnsafeMutableRawBufferPointer] = []
    private let keep: Int

    init(keep: Int) { self.keep = keep }

    deinit { for b in free { b.deallocate() } }

    /// A buffer of at least `count` bytes (the smallest free one that fits, or a new one).
    func take(_ count: Int) -> UnsafeMutableRawBufferPointer {
        lock.lock()
        defer { lock.unlock() }
        if let i = free.indices.filter({ free[$0].count >= count }).min(by: { free[$0].count < free[$1].count }) {
            return free.remove(at: i)
        }
        return .allocate(byteCount: max(count, 1 << 20), alignment: 64)
    }

    /// Returns `buffer`; beyond `keep` buffers the smallest are released.
    func give(_ buffer: UnsafeMutableRawBufferPointer) {
        lock.lock()
        defer { lock.unlock() }
        free.append(buffer)
        if free.count > keep, let i = free.indices.min(by: { free[$0].count < free[$1].count }) {
            free.remove(at: i).deallocate()
        }
    }
}

/// Runs `encode` for items `0..<count` on `threads` threads and calls `sink` for each result in
/// index order. Whichever thread completes the next item in order does the writing, so every
/// thread either encodes or writes. The first error thrown by `sink` stops the pipeline.
func runOrderedPipeline(
    count: Int, threads: Int, window: Int, encode: (Int, RegionEncoder) -> EncodedRegion,
    makeEncoder: () -> RegionEncoder, sink: (Int, EncodedRegion) throws -> Void
) throws {
    guard count > 0 else { return }
    let condition = NSCondition()
    var next = 0  // next item to claim
    var written = 0  // next item to hand to the sink
    var flushing = false
    var failure: Error?
    let ready = UnsafeMutableBufferPointer<EncodedRegion?>.allocate(capacity: count)
    ready.initialize(repeating: nil)
    defer { ready.deinitialize().deallocate() }

    // Claimed items always belong to a running iteration, and a waiting iteration holds no claim,
    // so the item at `written` is always being encoded or written: the pipeline cannot stall,
    // whatever number of iterations the system runs at once.
    DispatchQueue.concurrentPerform(iterations: max(1, min(threads, count))) { _ in
        let encoder = makeEncoder()
        condition.lock()
        defer { condition.unlock() }
        while true {
            while failure == nil && next < count && next >= written + window { condition.wait() }
            guard failure == nil, next < count else { return }
            let k = next
            next += 1
            condition.unlock()
            let result = encode(k, encoder)
            condition.lock()
            ready[k] = result
            guard !flushing else { continue }
            flushing = true
            while failure == nil, written < count, let item = ready[written] {
                ready[written] = nil
                let i = written
                condition.unlock()
                var thrown: Error?
                do { try sink(i, item) } catch { thrown = error }
                condition.lock()
                if let thrown { failure = thrown }
                written += 1
                condition.broadcast()
            }
            flushing = false
        }
    }
    if let failure { throw failure }
    precondition(written == count, "pipeline ended with \(count - written) items unwritten")
}
