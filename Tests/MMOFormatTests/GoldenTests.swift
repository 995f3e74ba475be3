// Files written by format version 1.0 (fixtures/golden/, never regenerated) must read back
// identically forever: same content hash, same state document, every blob byte for byte as the
// manifest (written by the independent Python reader) records. A change that breaks old
// checkpoints fails here.

import Foundation
import XCTest

@testable import MMOFormat

final class GoldenTests: XCTestCase {
    struct Manifest: Decodable {
        struct Blob: Decodable {
            var name, dtype, codec, filter, xxh3, hex: String
            var shape: [Int]
            var length, stored_length: Int
        }
        var major_version, minor_version, file_length: Int
        var content_hash, state: String
        var blobs: [Blob]
    }

    func check(_ name: String, minimumBlobs: Int) throws {
        let folder = repositoryRoot.appendingPathComponent("fixtures/golden")
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: folder.appendingPathComponent(name + ".json")))
        let reader = try MMOReader.open(folder.appendingPathComponent(name + ".mmo"))
        XCTAssertEqual(reader.majorVersion, manifest.major_version)
        XCTAssertEqual(reader.minorVersion, manifest.minor_version)
        XCTAssertEqual(reader.fileLength, manifest.file_length)
        XCTAssertEqual(hex16(reader.contentHash), manifest.content_hash)
        XCTAssertEqual(try reader.stateDocument(), Data(manifest.state.utf8))
        XCTAssertEqual(reader.blobs.map(\.name), manifest.blobs.map(\.name))
        XCTAssertGreaterThanOrEqual(reader.blobs.count, minimumBlobs)
        for expected in manifest.blobs {
            let blob = try XCTUnwrap(reader.blob(named: expected.name))
            XCTAssertEqual(blob.dtype.rawValue, expected.dtype, expected.name)
            XCTAssertEqual(blob.shape, expected.shape, expected.name)
            XCTAssertEqual(blob.codec.rawValue, expected.codec, expected.name)
            XCTAssertEqual(blob.filter.rawValue, expected.filter, expected.name)
            XCTAssertEqual(blob.length, expected.length, expected.name)
            XCTAssertEqual(blob.storedLength, expected.stored_length, expected.name)
            XCTAssertEqual(hex16(blob.checksum), expected.xxh3, expected.name)
            XCTAssertEqual(hexString(try reader.data(expected.name)), expected.hex, expected.name)
        }
        let report = try reader.verify()
        XCTAssertEqual(report.fileLength, manifest.file_length)
        // The golden files must keep exercising every codec and filter.
        XCTAssertEqual(Set(reader.blobs.map(\.codec)), Set(MMOCodec.allCases), name)
        XCTAssertEqual(Set(reader.blobs.map(\.filter)), Set(MMOFilter.allCases), name)
    }

    func testSwiftWrittenGoldenFileReadsIdentically() throws {
        try check("v1-swift", minimumBlobs: 19)
    }

    func testPythonWrittenGoldenFileReadsIdentically() throws {
        try check("v1-python", minimumBlobs: 17)
    }

    func testGoldenStateDocumentDecodes() throws {
        let reader = try MMOReader.open(repositoryRoot.appendingPathComponent("fixtures/golden/v1-swift.mmo"))
        struct State: Decodable {
            struct Stream: Decodable { var key: UInt64, counter: UInt64, used: Int }
            var rng: [String: Stream]
            var text: String
        }
        let state = try reader.stateDocument(as: State.self)
        XCTAssertEqual(state.rng["dropout/bert"]?.key, 12_345_678_901_234_567_890, "64-bit integers survive exactly")
        XCTAssertEqual(state.text, "héllo ✓")
    }

    /// The worked example of Formats/mmo-v1.md §12: the Swift writer produces it byte for byte,
    /// and it reads back as the specification describes.
    func testSpecificationWorkedExampleIsWhatTheWriterProduces() throws {
        let example = try Data(contentsOf: repositoryRoot.appendingPathComponent("Formats/example-v1.mmo"))
        let url = try temporaryFolder(self).appendingPathComponent("example.mmo")
        var writer = MMOWriter()
        try writer.setStateDocument(Data(#"{"progress":{"step":1}}"#.utf8))
        try writer.add("model/tiny/weight", shape: [2], floats: [1.0, -2.0])
        try writer.add("optim/tiny/m/weight", shape: [2], floats: [0, 0])
        let report = try writer.write(to: url)
        XCTAssertEqual(try Data(contentsOf: url), example)
        XCTAssertEqual(report.fileLength, 605)
        XCTAssertEqual(hex16(report.contentHash), "acc0599ce83f8fcb")
        let reader = try MMOReader.open(url)
        XCTAssertEqual(reader.blobs.map(\.region.offset), [128, 192])
        XCTAssertEqual(reader.blobs.map(\.codec), [.raw, .zero])
        XCTAssertEqual(try reader.verify().paddingBytes, 41 + 56)
    }
}
