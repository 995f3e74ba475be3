// Damaged files (spec §7): truncation at every byte, thousands of seeded random mutations across
// header, index, regions and padding, and index/header mutations with repaired checksums that
// reach the parser and validator. Every case must end in a typed error (or, where checksums were
// repaired, possibly a valid file) — never a crash, a hang or an out-of-bounds read. Run under
// `swift test --sanitize=address` to check the last point.

import Foundation
import XCTest

@testable import MMOFormat

final class CorruptionTests: XCTestCase {
    var folder: URL!
    var original: [UInt8] = []
    var reader: MMOReader!

    override func setUpWithError() throws {
        folder = try temporaryFolder(self)
        let url = folder.appendingPathComponent("original.mmo")
        try writeSample(to: url)
        original = Array(try Data(contentsOf: url))
        reader = try MMOReader.open(url)
    }

    /// XCTest keeps test-case instances alive; release the reader so that leak checkers
    /// (`--sanitize=address`) only see what the library itself keeps.
    override func tearDown() {
        reader = nil
        original = []
    }

    /// The outcome of reading `bytes` completely: nil if the file is valid, else its error.
    func outcome(_ bytes: [UInt8]) throws -> MMOFormatError? {
        let url = folder.appendingPathComponent("damaged.mmo")
        try Data(bytes).write(to: url)
        do {
            try readEverything(url)
            return nil
        } catch let error as MMOFormatError {
            return error
        }
    }

    func testTruncationAtEveryByteIsReported() throws {
        XCTAssertLessThan(original.count, 100_000, "keep the sample small: every prefix is opened")
        // One file, cut shorter and shorter in place (rewriting it per prefix is slow).
        let url = folder.appendingPathComponent("truncated.mmo")
        try Data(original).write(to: url)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        for length in stride(from: original.count - 1, through: 0, by: -1) {
            try handle.truncate(atOffset: UInt64(length))
            do {
                try readEverything(url)
                XCTFail("prefix of \(length) bytes was accepted")
            } catch let error as MMOFormatError {
                XCTAssertEqual(error.kind, .truncated, "prefix of \(length) bytes: \(error)")
            }
        }
    }

    /// The regions of the sample file, to spread mutations over all of them.
    func regions() -> [(name: String, range: Range<Int>)] {
        var result: [(String, Range<Int>)] = [("header", 0..<64)]
        let all = [("state", reader.stateRegion)] + reader.blobs.map { ($0.name, $0.region) }
        for (i, (name, region)) in all.enumerated() {
            let end = region.offset + region.storedLength
            if region.storedLength > 0 { result.append((name, region.offset..<end)) }
            let next = i + 1 < all.count ? all[i + 1].1.offset : reader.indexRange.lowerBound
            if next > end { result.append(("padding after \(name)", end..<next)) }
        }
        result.append(("index", reader.indexRange))
        return result
    }

    func testEverySeededByteMutationIsDetected() throws {
        let regions = regions()
        var rng = SplitMix64(state: 0x5EED)
        var kinds: [MMOFormatErrorKind: Int] = [:]
        let mutations = 1500
        for trial in 0..<mutations {
            // A third of the mutations in the header and index, the rest in regions and padding.
            let region: Range<Int>
            switch trial % 3 {
            case 0: region = 0..<64
            case 1: region = reader.indexRange
            default: region = regions[rng.below(regions.count)].range
            }
            var bytes = original
            let count = 1 + (rng.below(4) == 0 ? rng.below(8) : 0)  // mostly single bytes, some runs
            let start = region.lowerBound + rng.below(region.count)
            for offset in start..<min(start + count, original.count) {
                bytes[offset] ^= UInt8(1 + rng.below(255))
            }
            guard let error = try outcome(bytes) else {
                return XCTFail("trial \(trial): changing bytes at \(start) (\(count)) went unnoticed")
            }
            kinds[error.kind, default: 0] += 1
        }
        XCTAssertEqual(kinds.values.reduce(0, +), mutations)
        XCTAssertGreaterThan(kinds[.checksumMismatch] ?? 0, mutations / 2)
        XCTAssertGreaterThan(kinds[.nonZeroPadding] ?? 0, 0, "padding mutations must be caught by verify")
        print("byte mutations: \(mutations), outcomes \(kinds.sorted { $0.key.rawValue < $1.key.rawValue })")
    }

    /// Mutates the index and repairs both checksums, so that the JSON parser and the validator
    /// see hostile input. Outcomes: a typed error, or a file that is valid in every respect.
    func testIndexMutationsWithRepairedChecksumsNeverCrash() throws {
        let index = indexBytes(original)
        var rng = SplitMix64(state: 0x1DE5)
        var errors: [MMOFormatErrorKind: Int] = [:]
        var valid = 0
        let mutations = 1200
        let interesting = Array("{}[]\",:0123456789-.eE\\ tfn".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]
        for _ in 0..<mutations {
            var mutated = index
            for _ in 0..<(1 + rng.below(3)) {
                let at = rng.below(mutated.count)
                switch rng.below(4) {
                case 0: mutated[at] = interesting[rng.below(interesting.count)]
                case 1: mutated[at] = UInt8(rng.below(256))
                case 2: mutated.remove(at: at)
                default: mutated.insert(interesting[rng.below(interesting.count)], at: at)
                }
                if mutated.isEmpty { mutated = [0x7B] }
            }
            if let error = try outcome(replacingIndex(original, with: mutated)) {
                errors[error.kind, default: 0] += 1
            } else {
                valid += 1
            }
        }
        XCTAssertGreaterThan(errors[.malformedIndex] ?? 0, mutations / 4, "the mutations must reach the parser")
        print("index mutations: \(mutations), still valid \(valid), errors \(errors.sorted { $0.key.rawValue < $1.key.rawValue })")
    }

    /// Sets header fields to edge values with a repaired header checksum.
    func testHeaderFieldEdgeValuesAreRejected() throws {
        let edges: [UInt64] = [0, 1, 2, 63, 64, 65, 128, UInt64(original.count) - 1, UInt64(original.count), UInt64(original.count) + 1,
                               1 << 26, (1 << 53) - 1, 1 << 53, 1 << 63, UInt64.max]
        var outcomes = 0
        for field in [16, 24, 32] {
            for value in edges {
                var bytes = original
                patchHeader(&bytes) { header in
                    withUnsafeBytes(of: value.littleEndian) { header.replaceSubrange(field..<(field + 8), with: $0) }
                }
                if bytes == original { continue }  // the edge value equals the true one
                XCTAssertNotNil(try outcome(bytes), "header field at \(field) = \(value) was accepted")
                outcomes += 1
            }
        }
        for (field, value) in [(8, UInt32(0)), (8, 2), (8, .max)] {
            var bytes = original
            patchHeader(&bytes) { header in
                withUnsafeBytes(of: value.littleEndian) { header.replaceSubrange(field..<(field + 4), with: $0) }
            }
            XCTAssertEqual(try outcome(bytes)?.kind, .unsupportedVersion)
        }
        XCTAssertGreaterThan(outcomes, 40)
    }
}
