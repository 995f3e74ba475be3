// The building blocks: shuffle is a byte-plane transpose with an exact inverse, the zero test
// finds a single non-zero bit anywhere, XXH3 is the reference function, and the strict JSON
// parser accepts RFC 8259 and nothing else.

import Foundation
import XCTest

@testable import MMOFormat

final class CodecTests: XCTestCase {
    func testShuffleIsBytePlanesAndUnshuffleInvertsIt() {
        var rng = SplitMix64(state: 3)
        for size in [2, 4, 8] {
            for n in [0, 1, 3, 17, 1000] {
                let raw = (0..<(n * size)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                var planes = [UInt8](repeating: 0, count: raw.count)
                var back = [UInt8](repeating: 0, count: raw.count)
                raw.withUnsafeBytes { r in planes.withUnsafeMutableBytes { shuffleBytes(r, into: $0, elementSize: size) } }
                for i in 0..<n {
                    for k in 0..<size { XCTAssertEqual(planes[k * n + i], raw[i * size + k]) }
                }
                planes.withUnsafeBytes { p in back.withUnsafeMutableBytes { unshuffleBytes(p, into: $0, elementSize: size) } }
                XCTAssertEqual(back, raw, "size \(size), n \(n)")
            }
        }
    }

    func testAllZeroFindsAnySingleBit() {
        for count in [0, 1, 7, 8, 9, 63, 64, 65, 200] {
            let zeros = [UInt8](repeating: 0, count: count)
            XCTAssertTrue(zeros.withUnsafeBytes { isAllZero($0) })
            for position in 0..<count {
                var one = zeros
                one[position] = 0x80
                XCTAssertFalse(one.withUnsafeBytes { isAllZero($0) }, "count \(count), bit at \(position)")
            }
        }
    }

    func testXXH3MatchesReferenceValues() {
        // Reference: python -c "import xxhash; print(xxhash.xxh3_64_hexdigest(b'...'))"
        XCTAssertEqual(hex16([UInt8]().withUnsafeBytes { xxh3($0) }), "2d06800538d394c2")
        XCTAssertEqual(hex16(Array("mmo".utf8).withUnsafeBytes { xxh3($0) }), XXH3Reference.mmo)
    }

    func parse(_ text: String, depth: Int = 64) -> JSONValue? {
        Array(text.utf8).withUnsafeBytes { try? JSONScanner.parse($0, maxDepth: depth) }
    }

    func testStrictJSONAcceptsRFC8259() {
        for text in [
            "{}", "[]", " {\"a\" : [1, -2.5e+3, 0, 0.5, true, false, null, \"\\u00e9\\ud83d\\ude00\\n\\\"\\/\"]}\r\n", "\"x\"", "0",
            "{\"é\":1,\"e\\u0301\":2}",  // canonically equivalent but different code points: distinct keys
        ] {
            XCTAssertNotNil(parse(text), text)
        }
        guard case .object(let members)? = parse("{\"a\":\"h\\u00e9\\ud83d\\ude00\"}"), case .string(let s) = members[0].value else {
            return XCTFail("expected an object with a string")
        }
        XCTAssertEqual(s, "hé😀")
        guard case .integer(let big)? = parse("9007199254740991"), case .otherNumber? = parse("-1"),
            case .otherNumber? = parse("1.0"), case .otherNumber? = parse("99999999999999999999")
        else { return XCTFail("integer classification") }
        XCTAssertEqual(big, (1 << 53) - 1)
    }

    func testStrictJSONRejectsEverythingElse() {
        for text in [
            "", " ", "{", "}", "{\"a\":1,}", "[1,]", "[1 2]", "{\"a\" 1}", "{a:1}", "'a'", "01", "-", "1.", ".5", "1e", "+1",
            "NaN", "Infinity", "-Infinity", "tru", "nul", "\"a", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
            "\"\\ud800\\u0041\"", "\"\u{1}\"", "\u{FEFF}{}", "{}{}", "{\"a\":1,\"a\":2}", "[1]x", "[[[[[[[[[[1]]]]]]]]]]",
        ] {
            XCTAssertNil(parse(text, depth: 8), "accepted \(text.debugDescription)")
        }
        XCTAssertNil([0x22, 0xC3, 0x28, 0x22].withUnsafeBytes { try? JSONScanner.parse($0, maxDepth: 8) }, "invalid UTF-8")
        XCTAssertNil([0x22, 0xED, 0xA0, 0x80, 0x22].withUnsafeBytes { try? JSONScanner.parse($0, maxDepth: 8) }, "encoded surrogate")
        XCTAssertNil([0x22, 0xC0, 0xAF, 0x22].withUnsafeBytes { try? JSONScanner.parse($0, maxDepth: 8) }, "overlong encoding")
    }

    func testDeepNestingIsAnErrorNotAStackOverflow() {
        let deep = String(repeating: "[", count: 1_000_000) + String(repeating: "]", count: 1_000_000)
        XCTAssertNil(parse(deep, depth: MMOStateDocument.maxDepth))
        let allowed = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        XCTAssertNotNil(parse(allowed, depth: MMOStateDocument.maxDepth))
    }
}

/// XXH3-64 reference digests computed with the Python `xxhash` package.
enum XXH3Reference {
    static let mmo = "75ae5790953448ad"
}
