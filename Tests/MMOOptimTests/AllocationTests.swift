// A step allocates nothing. The test binary links `CMallocCounter`, which interposes malloc,
// calloc, realloc and the aligned allocators and counts every call (Swift's heap objects and
// buffers all end there); a window of 20 steps must add nothing, and a control window that
// allocates one array must be seen.
import CMallocCounter
import Foundation
import MMOCore
import XCTest

@testable import MMOOptim

final class AllocationTests: XCTestCase {
    private static let optimized: Bool = {
        #if DEBUG
            return false
        #else
            return true
        #endif
    }()

    func testStepAllocatesNothing() throws { try checkStepAllocatesNothing(gate: .none) }

    /// The agreement gate (pair table, per-member averages) allocates nothing either.
    func testGatedStepAllocatesNothing() throws { try checkStepAllocatesNothing(gate: .agreement) }

    func checkStepAllocatesNothing(gate: SharingGate) throws {
        // -Onone leaves Array accessors unspecialized; their read coroutines allocate frames.
        try XCTSkipUnless(Self.optimized, "the no-allocation guarantee is for optimized builds (make test uses -c release)")
        try XCTSkipUnless(mmo_allocation_counting_available() != 0, "allocation counting needs glibc")

        let stores = threeModels()
        var c = OptimizerConfig()
        c.learningRate = 1e-2
        c.warmupSteps = 2
        c.maxGradientNorm = 0.5
        c.syncEvery = 2
        c.convergenceWindow = 3
        c.convergenceEvery = 1
        c.logGradientSimilarity = true
        c.sharingGate = gate
        let optimizer = try MultiModelOptimizer(
            models: stores.enumerated().map { OptimizedModel(name: "m\($0)", store: $1, weight: 1 + Double($0) * 0.1) },
            config: c)
        var losses: [Float] = [1, 1, 1]
        for t in 1...4 {  // warm-up: every lazy structure exists afterwards
            for (m, s) in stores.enumerated() {
                fillGradient(s, model: m, step: t)
                losses[m] = 2 / Float(t)  // the literal's storage is static: copy it now, not in the window
            }
            optimizer.step(losses: losses)
        }

        // Control: the counter sees an allocation.
        var before = mmo_allocation_count()
        let sink = [Float](repeating: 1, count: 1000 + losses.count)
        XCTAssertGreaterThan(mmo_allocation_count(), before, "the allocation counter must see the control array")
        XCTAssertEqual(sink.count, 1003)

        var checksum = 0.0
        var shared = 0
        var synced = 0
        before = mmo_allocation_count()
        for t in 5...24 {
            for m in 0..<3 {
                let g = stores[m].gradients.pointer
                for i in 0..<stores[m].totalCount { g[i] = Float((i * 7 + t * 3 + m) % 11) - 5 }
                losses[m] = 1 / Float(t + m)
            }
            if t == 9 { stores[1].gradients.pointer[3] = .nan }
            let report = optimizer.step(losses: losses)
            checksum += report.models[0].learningRate + (report.similarities[0].cosine ?? 0)
            shared += report.gradientsShared ? 1 : 0
            synced += report.parametersSynchronized ? 1 : 0
        }
        let allocations = mmo_allocation_count() - before
        XCTAssertEqual(allocations, 0, "allocations during 20 optimizer steps")
        XCTAssertEqual(shared, 20)
        XCTAssertEqual(synced, 10)
        XCTAssertTrue(checksum.isFinite && checksum != 0)
    }
}
