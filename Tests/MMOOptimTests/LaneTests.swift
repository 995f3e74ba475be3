// The optimizer's element-wise phases on a `WorkerPool` (issue "Speed"): norms, clipping,
// sharing, AdamW and sync split across lanes give bit-identical parameters, moments and reports
// to the single-lane step, and a step still allocates nothing.
import CMallocCounter
import MMOCore
import XCTest

@testable import MMOOptim

final class LaneTests: XCTestCase {
    /// Three models whose tensors span several 4096-element blocks (lanes get real work), with
    /// shared and unshared keys, decay and no-decay runs, odd sizes (SIMD tails).
    func bigModels() -> [ParameterStore] {
        let shapes: [[(String, [Int], ParameterKind, String, Int?)]] = [
            [("emb", [997, 24], .embedding, "embedding.word", nil), ("ln", [24], .norm, "norm.weight", nil),
             ("q", [24, 700], .attention, "attention.query.weight", 0), ("fc", [96, 300], .ffn, "ffn.in.weight", 0)],
            [("emb", [997, 24], .embedding, "embedding.word", nil), ("q", [24, 700], .attention, "attention.query.weight", 0),
             ("fc.b", [301], .ffn, "ffn.in.bias", 0)],
            [("emb", [997, 24], .embedding, "embedding.word", nil), ("ln", [24], .norm, "norm.weight", nil),
             ("fc", [96, 300], .ffn, "ffn.in.weight", 0), ("head", [2, 24], .head, "head.out.weight", nil)],
        ]
        return shapes.enumerated().map { m, list in
            makeStore(list.map { spec("m\(m).\($0.0)", $0.1, $0.2, $0.3, block: $0.4) }, seed: UInt64(m + 3))
        }
    }

    func config() -> OptimizerConfig {
        var c = OptimizerConfig()
        c.learningRate = 1e-2
        c.accumulationSteps = 2
        c.warmupSteps = 2
        c.totalSteps = 40
        c.maxGradientNorm = 250  // some steps clip, some do not
        c.syncEvery = 2
        c.convergenceWindow = 3
        c.convergenceEvery = 1
        return c
    }

    /// `phaseLanes`: the optimizer's passes on that many of the pool's lanes. `normsOnLanes`: each
    /// model's `finishBackward` on its own lane of the pool (all three at once), as the trainer.
    func run(
        lanes: Int, steps: Int, zeroing: Bool = false, phaseLanes: Int? = nil, normsOnLanes: Bool = false
    ) throws -> (stores: [ParameterStore], optimizer: MultiModelOptimizer, norms: [Double]) {
        let stores = bigModels()
        let optimizer = try MultiModelOptimizer(
            models: stores.enumerated().map { OptimizedModel(name: "m\($0)", store: $1, weight: 1 + Double($0) * 0.2) },
            config: config())
        let pool = WorkerPool(lanes: lanes)
        if lanes > 1 { optimizer.use(pool: pool, lanes: phaseLanes) }
        optimizer.zeroesGradients = zeroing
        var norms: [Double] = []
        for t in 1...steps {
            for (m, s) in stores.enumerated() { fillGradient(s, model: m, step: t, scale: Float(t % 3 + 1)) }
            if t == 4 { stores[2].gradients.pointer[5000] = .infinity }
            if normsOnLanes { pool.forEach(stores.count) { optimizer.finishBackward(model: $0) } }
            let report = optimizer.step(losses: [1 / Float(t), 2 / Float(t), 1.5 / Float(t)])
            norms += report.models.map(\.gradientNorm)
            if zeroing {
                // Every gradient is zero already, the skipped model's (step 4) included.
                for (m, s) in stores.enumerated() {
                    XCTAssertTrue((0..<s.totalCount).allSatisfy { s.gradients.pointer[$0].bitPattern == 0 }, "step \(t) model \(m)")
                }
            } else {
                optimizer.zeroGradients()
            }
        }
        return (stores, optimizer, norms)
    }

    func testLanesGiveTheSameBits() throws {
        let one = try run(lanes: 1, steps: 8)
        XCTAssertTrue(one.norms.contains { $0 > 250 } && one.norms.contains { $0 < 250 }, "clipping both on and off")
        for lanes in [2, 3] {
            let many = try run(lanes: lanes, steps: 8)
            XCTAssertEqual(many.norms.map(\.bitPattern), one.norms.map(\.bitPattern), "\(lanes) lanes: norms")
            for m in 0..<3 {
                XCTAssertEqual(bits(many.stores[m].values), bits(one.stores[m].values), "\(lanes) lanes: model \(m) values")
                XCTAssertEqual(bits(many.optimizer.expAvg[m]), bits(one.optimizer.expAvg[m]), "\(lanes) lanes: model \(m) m")
                XCTAssertEqual(bits(many.optimizer.expAvgSq[m]), bits(one.optimizer.expAvgSq[m]), "\(lanes) lanes: model \(m) v")
            }
        }
    }

    /// `zeroesGradients` (the trainer's setting) zeroes the gradients inside the fused pass and
    /// changes no bit of parameters, moments or norms, on one lane and on several.
    func testZeroingInTheFusedPassChangesNoBit() throws {
        let plain = try run(lanes: 1, steps: 8)
        for lanes in [1, 3] {
            let zeroed = try run(lanes: lanes, steps: 8, zeroing: true)
            XCTAssertEqual(zeroed.norms.map(\.bitPattern), plain.norms.map(\.bitPattern), "\(lanes) lanes: norms")
            for m in 0..<3 {
                XCTAssertEqual(bits(zeroed.stores[m].values), bits(plain.stores[m].values), "\(lanes) lanes: model \(m) values")
                XCTAssertEqual(bits(zeroed.optimizer.expAvg[m]), bits(plain.optimizer.expAvg[m]), "\(lanes) lanes: model \(m) m")
                XCTAssertEqual(bits(zeroed.optimizer.expAvgSq[m]), bits(plain.optimizer.expAvgSq[m]), "\(lanes) lanes: model \(m) v")
            }
        }
    }

    /// The trainer's arrangement: three model lanes, the optimizer's passes on two of them, and
    /// each model's division and norm taken on its own lane by `finishBackward` (concurrently)
    /// instead of in the step's first pass. Same norms (the infinite one of step 4 included),
    /// values and moments as one lane doing everything; clipping and the skip still happen.
    func testNormsOnTheModelsLanesAndFewerPhaseLanesChangeNoBit() throws {
        let plain = try run(lanes: 1, steps: 8)
        XCTAssertTrue(plain.norms.contains { !$0.isFinite }, "a skipped step")
        for (phaseLanes, normsOnLanes) in [(2, true), (2, false), (3, true)] {
            let other = try run(lanes: 3, steps: 8, zeroing: true, phaseLanes: phaseLanes, normsOnLanes: normsOnLanes)
            let label = "\(phaseLanes) phase lanes, norms on lanes \(normsOnLanes)"
            XCTAssertEqual(other.norms.map(\.bitPattern), plain.norms.map(\.bitPattern), "\(label): norms")
            for m in 0..<3 {
                XCTAssertEqual(bits(other.stores[m].values), bits(plain.stores[m].values), "\(label): model \(m) values")
                XCTAssertEqual(bits(other.optimizer.expAvg[m]), bits(plain.optimizer.expAvg[m]), "\(label): model \(m) m")
                XCTAssertEqual(bits(other.optimizer.expAvgSq[m]), bits(plain.optimizer.expAvgSq[m]), "\(label): model \(m) v")
            }
        }
    }

    /// `WorkerPool.run(_:lanes:)` runs exactly lanes 0 ..< count, each once, told `of: count`,
    /// and leaves the other workers asleep; a full run afterwards still reaches every lane.
    func testAPoolRunsAJobOnFewerLanes() {
        final class Record: LaneJob {
            let calls = UnsafeMutablePointer<Int>.allocate(capacity: 4)
            let told = UnsafeMutablePointer<Int>.allocate(capacity: 4)
            init() { reset() }
            func reset() {
                calls.initialize(repeating: 0, count: 4)
                told.initialize(repeating: 0, count: 4)
            }
            func runLane(_ lane: Int, of lanes: Int) {
                calls[lane] += 1
                told[lane] = lanes
            }
        }
        let pool = WorkerPool(lanes: 4)
        let job = Record()
        for count in [2, 3, 1, 4, 9] {
            job.reset()
            pool.run(job, lanes: count)
            let used = min(count, 4)
            XCTAssertEqual((0..<4).map { job.calls[$0] }, (0..<4).map { $0 < used ? 1 : 0 }, "run on \(count) lanes")
            XCTAssertEqual((0..<used).map { job.told[$0] }, Array(repeating: used, count: used), "run on \(count) lanes")
        }
    }

    func testAStepOnLanesAllocatesNothing() throws {
        #if DEBUG
            throw XCTSkip("the no-allocation guarantee is for optimized builds")
        #endif
        try XCTSkipUnless(mmo_allocation_counting_available() != 0, "allocation counting needs glibc")
        let stores = bigModels()
        let optimizer = try MultiModelOptimizer(
            models: stores.enumerated().map { OptimizedModel(name: "m\($0)", store: $1, weight: 1) }, config: config())
        let pool = WorkerPool(lanes: 3)
        optimizer.use(pool: pool, lanes: 2)  // the trainer's arrangement for 3 models on 2 cores
        optimizer.zeroesGradients = true
        let losses: [Float] = [1, 1, 1]
        for t in 1...4 {
            for (m, s) in stores.enumerated() { fillGradient(s, model: m, step: t) }
            optimizer.step(losses: losses)
        }
        final class Norms: LaneJob {
            let optimizer: MultiModelOptimizer
            init(_ optimizer: MultiModelOptimizer) { self.optimizer = optimizer }
            func runLane(_ lane: Int, of lanes: Int) { optimizer.finishBackward(model: lane) }
        }
        let norms = Norms(optimizer)
        final class Touch: LaneJob {
            let stores: [ParameterStore]
            init(_ stores: [ParameterStore]) { self.stores = stores }
            func runLane(_ lane: Int, of lanes: Int) { stores[lane].gradients.pointer[0] = 0.5 }
        }
        let job = Touch(stores)
        let before = mmo_allocation_count()
        for _ in 5...20 {
            pool.run(job)  // the pool on its own, as the trainer's step uses it
            pool.run(norms)
            optimizer.step(losses: losses)
        }
        XCTAssertEqual(mmo_allocation_count() - before, 0, "allocations during 16 steps on 3 lanes")
    }
}
