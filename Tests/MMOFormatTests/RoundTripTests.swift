// Round trips: every dtype, codec, filter and hint comes back bit-identical; the writer's codec
// choices, determinism, alignment and zero-copy views are what the specification promises.

import Foundation
import XCTest

@testable import MMOFormat

final class RoundTripTests: XCTestCase {
    func testEveryBlobComesBackIdentical() throws {
        let url = try temporaryFolder(self).appendingPathComponent("sample.mmo")
        try writeSample(to: url)
        let reader = try MMOReader.open(url)
        let sample = sampleBlobs()
        XCTAssertEqual(reader.blobs.map(\.name), sample.map(\.name), "file order is insertion order")
        for expected in sample {
            let blob = try XCTUnwrap(reader.blob(named: expected.name))
            XCTAssertEqual(blob.dtype, expected.dtype, expected.name)
            XCTAssertEqual(blob.shape, expected.shape, expected.name)
            XCTAssertEqual(Array(try reader.data(expected.name)), expected.bytes, expected.name)
        }
        XCTAssertEqual(try reader.stateDocument(), sampleState)
        let report = try reader.verify()
        XCTAssertEqual(report.blobCount, sample.count)
        XCTAssertEqual(report.headerBytes + report.storedBytes + report.paddingBytes + report.indexBytes, report.fileLength)
        XCTAssertEqual(report.fileLength, try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
    }

    func testWriterChoosesCodecsAsSpecified() throws {
        let url = try temporaryFolder(self).appendingPathComponent("codecs.mmo")
        let written = try writeSample(to: url)
        let reader = try MMOReader.open(url)
        func blob(_ name: String) throws -> MMOBlobInfo { try XCTUnwrap(reader.blob(named: name)) }
        XCTAssertEqual(try blob("model/bert/w").codec, .zstd)
        XCTAssertEqual(try blob("model/bert/w").filter, .shuffle, "floats are shuffled by default")
        XCTAssertEqual(try blob("model/bert/b").codec, .zero, "all-zero blobs store nothing")
        XCTAssertEqual(try blob("model/bert/b").storedLength, 0)
        XCTAssertEqual(try blob("noise").codec, .raw, "incompressible data stays raw")
        XCTAssertEqual(try blob("raw-hint").codec, .raw)
        XCTAssertEqual(try blob("zero-raw-hint").codec, .raw, "the raw hint wins over the zero codec")
        XCTAssertEqual(try blob("no-shuffle").filter, .none)
        XCTAssertEqual(try blob("int-shuffle").filter, .shuffle)
        XCTAssertEqual(try blob("int-shuffle").codec, .zstd)
        XCTAssertEqual(try blob("i32").filter, .none, "integers are not shuffled unless asked")
        XCTAssertEqual(try blob("empty").codec, .raw)
        // Shuffling float weights must beat plain zstd, or the filter is pointless.
        XCTAssertLessThan(try blob("model/bert/w").storedLength, try blob("no-shuffle").storedLength)
        XCTAssertEqual(written.codecCounts[.zero], 1)
        XCTAssertEqual(written.contentHash, reader.contentHash)
        XCTAssertEqual(written.fileLength, reader.fileLength)
    }

    func testRegionsAreAlignedAndRawViewsAreZeroCopy() throws {
        let url = try temporaryFolder(self).appendingPathComponent("views.mmo")
        try writeSample(to: url)
        let reader = try MMOReader.open(url)
        for blob in reader.blobs { XCTAssertEqual(blob.region.offset % 64, 0, blob.name) }
        let view = try XCTUnwrap(try reader.rawView("raw-hint"))
        let mapping = reader.file.bytes
        XCTAssertTrue(view.baseAddress! >= mapping.baseAddress! && view.baseAddress! < mapping.baseAddress! + mapping.count, "the view points into the mapping")
        XCTAssertEqual(Int(bitPattern: view.baseAddress!) % 64, 0)
        XCTAssertEqual(Array(view), sampleBlobs().first { $0.name == "raw-hint" }!.bytes)
        XCTAssertNil(try reader.rawView("model/bert/w"), "compressed blobs have no in-place view")
        let sum = try reader.withBytes("model/bert/w") { $0.bindMemory(to: Float.self).reduce(0, +) }
        XCTAssertEqual(sum, try reader.floats("model/bert/w").reduce(0, +))
    }

    func testOutputIsIdenticalForAnyThreadCount() throws {
        let folder = try temporaryFolder(self)
        var one = MMOWriteOptions()
        one.threads = 1
        var many = MMOWriteOptions()
        many.threads = 7  // more workers than cores: the ordered pipeline must still finish
        try writeSample(to: folder.appendingPathComponent("a.mmo"), options: one)
        try writeSample(to: folder.appendingPathComponent("b.mmo"), options: many)
        let a = try Data(contentsOf: folder.appendingPathComponent("a.mmo"))
        let b = try Data(contentsOf: folder.appendingPathComponent("b.mmo"))
        XCTAssertEqual(a, b)
    }

    func testUncompressedWriterStoresRawAndZero() throws {
        let url = try temporaryFolder(self).appendingPathComponent("raw.mmo")
        var options = MMOWriteOptions()
        options.compress = false
        try writeSample(to: url, options: options)
        let reader = try MMOReader.open(url)
        XCTAssertEqual(Set(reader.blobs.map(\.codec)), [.raw, .zero])
        XCTAssertEqual(reader.stateRegion.codec, .raw)
        try reader.verify()
        for expected in sampleBlobs() { XCTAssertEqual(Array(try reader.data(expected.name)), expected.bytes) }
    }

    func testLargeStateDocumentIsCompressed() throws {
        let url = try temporaryFolder(self).appendingPathComponent("state.mmo")
        let losses = (0..<5000).map { String(Double($0) * 0.001) }.joined(separator: ",")
        let state = Data("{\"losses\":[\(losses)]}".utf8)
        var writer = MMOWriter()
        try writer.setStateDocument(state)
        try writer.write(to: url)
        let reader = try MMOReader.open(url)
        XCTAssertEqual(reader.stateRegion.codec, .zstd)
        XCTAssertEqual(try reader.stateDocument(), state)
        struct Losses: Decodable { var losses: [Double] }
        XCTAssertEqual(try reader.stateDocument(as: Losses.self).losses.count, 5000)
    }

    func testEmptyCheckpointIsValid() throws {
        let url = try temporaryFolder(self).appendingPathComponent("empty.mmo")
        try MMOWriter().write(to: url)
        let reader = try MMOReader.open(url)
        XCTAssertTrue(reader.blobs.isEmpty)
        XCTAssertEqual(try reader.stateDocument(), Data("{}".utf8))
        XCTAssertEqual(try reader.verify().blobCount, 0)
    }

    func testBorrowedAndFloatSourcesAndReadIntoBuffer() throws {
        let url = try temporaryFolder(self).appendingPathComponent("sources.mmo")
        let values = (0..<1000).map { Float($0) * 0.001 }
        var writer = MMOWriter()
        try values.withUnsafeBytes { bytes in
            try writer.add("borrowed", dtype: .f32, shape: [10, 100], unsafeBytes: bytes)
            try writer.add("floats", shape: [1000], floats: values)
            try writer.write(to: url)
        }
        let reader = try MMOReader.open(url)
        var out = [Float](repeating: -1, count: 1000)
        try out.withUnsafeMutableBytes { try reader.read("borrowed", into: $0) }
        XCTAssertEqual(out, values)
        XCTAssertEqual(try reader.floats("floats"), values)
        var small = [Float](repeating: 0, count: 999)
        assertFormatError(try small.withUnsafeMutableBytes { try reader.read("floats", into: $0) }, kind: .invalidArgument)
        assertFormatError(try reader.floats("missing"), kind: .noSuchBlob)
    }

    func testWriterRejectsBadArguments() throws {
        var writer = MMOWriter()
        assertFormatError(try writer.add("has space", shape: [1], floats: [1]), kind: .invalidArgument)
        assertFormatError(try writer.add("", shape: [1], floats: [1]), kind: .invalidArgument)
        assertFormatError(try writer.add("é", shape: [1], floats: [1]), kind: .invalidArgument)
        assertFormatError(try writer.add(String(repeating: "a", count: 1025), shape: [1], floats: [1]), kind: .invalidArgument)
        assertFormatError(try writer.add("shape", shape: [2], floats: [1]), kind: .invalidArgument)
        assertFormatError(try writer.add("neg", shape: [-1], floats: []), kind: .invalidArgument)
        assertFormatError(try writer.add("rank", shape: Array(repeating: 1, count: 9), floats: [1]), kind: .invalidArgument)
        try writer.add("ok", shape: [1], floats: [1])
        assertFormatError(try writer.add("ok", shape: [1], floats: [1]), kind: .invalidArgument)
        assertFormatError(try writer.setStateDocument(Data("[1]".utf8)), kind: .invalidArgument)
        assertFormatError(try writer.setStateDocument(Data("{\"a\":1,\"a\":2}".utf8)), kind: .invalidArgument)
        assertFormatError(try writer.setStateDocument(Data("{".utf8)), kind: .invalidArgument)
        XCTAssertEqual(writer.blobNames, ["ok"])
    }
}
