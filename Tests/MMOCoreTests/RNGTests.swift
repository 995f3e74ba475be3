// Philox: known answers, reproducibility, stream independence, crude distribution checks and
// exact state round trips (in memory and through Codable).
import Foundation
import XCTest
@testable import MMOCore

final class RNGTests: XCTestCase {
    /// Known-answer vectors from Random123 (kat_vectors: philox4x32_10).
    func testPhiloxKnownAnswers() {
        let zero = PhiloxRNG.philox(counter: 0, key: 0)
        XCTAssertEqual([zero.0, zero.1, zero.2, zero.3], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
    }

    func testStateRoundTripContinuesExactly() {
        var a = PhiloxRNG(seed: 42, stream: "dropout/bert")
        for _ in 0..<7 { _ = a.uniform() }
        var b = PhiloxRNG(state: a.state)
        for _ in 0..<20 { XCTAssertEqual(a.nextUInt32(), b.nextUInt32()) }
    }

    func testStateRoundTripThroughCodableAtEveryOffset() throws {
        for skip in 0..<9 {
            var a = PhiloxRNG(seed: 5, stream: "data")
            for _ in 0..<skip { _ = a.nextUInt32() }
            let json = try JSONEncoder().encode(a.state)
            var b = PhiloxRNG(state: try JSONDecoder().decode(RNGState.self, from: json))
            for _ in 0..<10 { XCTAssertEqual(a.normal(), b.normal()) }
        }
    }

    func testSameSeedAndNameReproduce() {
        var a = PhiloxRNG(seed: 9, stream: "init/gpt2"), b = PhiloxRNG(seed: 9, stream: "init/gpt2")
        XCTAssertEqual((0..<50).map { _ in a.uniform() }, (0..<50).map { _ in b.uniform() })
    }

    func testNamesAndSeedsGiveDifferentStreams() {
        func words(_ seed: UInt64, _ name: String) -> [UInt32] {
            var r = PhiloxRNG(seed: seed, stream: name)
            return (0..<16).map { _ in r.nextUInt32() }
        }
        let base = words(1, "dropout/bert")
        for other in [words(1, "dropout/gpt2"), words(1, "dropout/roberta"), words(2, "dropout/bert"), words(1, "")] {
            // Independent 32-bit words coincide with probability 2⁻³²; allow none.
            XCTAssertEqual(zip(base, other).filter { $0 == $1 }.count, 0)
        }
        XCTAssertNotEqual(PhiloxRNG(seed: 1, stream: "a").state.key, PhiloxRNG(seed: 1, stream: "b").state.key)
    }

    func testUniformAndNormalMoments() {
        // n = 200 000: standard errors are 6.5e-4 (uniform mean), 1.7e-4 (uniform variance),
        // 2.2e-3 (normal mean), 3.2e-3 (normal variance). Bounds are 5 standard errors.
        let n = 200_000
        var rng = PhiloxRNG(seed: 2024, stream: "moments")
        var s = 0.0, s2 = 0.0
        for _ in 0..<n {
            let u = Double(rng.uniform())
            XCTAssert(u >= 0 && u < 1)
            s += u
            s2 += u * u
        }
        var mean = s / Double(n)
        XCTAssertEqual(mean, 0.5, accuracy: 3.3e-3)
        XCTAssertEqual(s2 / Double(n) - mean * mean, 1.0 / 12, accuracy: 8.5e-4)
        s = 0
        s2 = 0
        for _ in 0..<n {
            let z = Double(rng.normal())
            s += z
            s2 += z * z
        }
        mean = s / Double(n)
        XCTAssertEqual(mean, 0, accuracy: 1.1e-2)
        XCTAssertEqual(s2 / Double(n) - mean * mean, 1, accuracy: 1.6e-2)
    }

    func testFillUniformEqualsRepeatedUniformAtEveryOffset() {
        for skip in 0..<5 { for count in [0, 1, 3, 4, 5, 11, 31, 32, 33, 64, 100, 1000] {
            var a = PhiloxRNG(seed: 8, stream: "fill"), b = a
            for _ in 0..<skip { _ = a.nextUInt32(); _ = b.nextUInt32() }
            var filled = [Float](repeating: -1, count: count)
            filled.withUnsafeMutableBufferPointer { a.fillUniform($0.baseAddress!, count: count) }
            XCTAssertEqual(filled, (0..<count).map { _ in b.uniform() }, "skip \(skip) count \(count)")
            XCTAssertEqual(a.state, b.state)
        } }
    }

    /// The eight-lane blocks agree with the scalar Philox where the counter's low word wraps
    /// (the carry into the high word must reach the lanes past the wrap).
    func testFillUniformAcrossACounterCarry() {
        var a = PhiloxRNG(state: RNGState(key: 0x1234_5678_9ABC_DEF0, counter: 0xFFFF_FFFD, used: 4)), b = a
        var filled = [Float](repeating: -1, count: 96)
        filled.withUnsafeMutableBufferPointer { a.fillUniform($0.baseAddress!, count: 96) }
        XCTAssertEqual(filled, (0..<96).map { _ in b.uniform() })
        XCTAssertEqual(a.state, b.state)
    }

    func testNextIntStaysInRangeAndCoversIt() {
        var rng = PhiloxRNG(seed: 3, stream: "ints")
        var seen = Set<Int>()
        for _ in 0..<1000 {
            let v = rng.nextInt(below: 7)
            XCTAssert((0..<7).contains(v))
            seen.insert(v)
        }
        XCTAssertEqual(seen.count, 7)
    }
}
