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
}
