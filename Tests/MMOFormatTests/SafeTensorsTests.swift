// The safetensors reader and writer: round trips, a file written by the Python reference
// implementation, every validation failure, and random corruption that must never crash.
import Foundation
import XCTest
@testable import MMOFormat

final class SafeTensorsTests: XCTestCase {
    /// A raw file from a header string and a data buffer.
    private func raw(_ header: String, _ data: [UInt8] = []) -> Data {
        var out = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: data)
        return out
    }

    private func assertRejects(
        _ data: Data, _ check: (SafeTensorsError) -> Bool, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try SafeTensorsFile(data: data, source: "t.safetensors"), file: file, line: line) { error in
            guard let e = error as? SafeTensorsError else { return XCTFail("not a SafeTensorsError: \(error)", file: file, line: line) }
            XCTAssertTrue(check(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains("t.safetensors") || e.description.contains("safetensors"), file: file, line: line)
        }
    }

    func testRoundTrip() throws {
        var file = SafeTensorsFile(metadata: ["format": "pt", "note": "a \"quoted\" / value"])
        try file.add("weights", SafeTensor(floats: [1, -2.5, .pi, 0, 1e-30, -0.0], shape: [2, 3]))
        try file.add("ids", SafeTensor(int64s: [7, -1, Int64.max], shape: [3]))
        try file.add("small", SafeTensor(int32s: [5], shape: []))
        try file.add("empty", SafeTensor(floats: [], shape: [0, 4]))
        XCTAssertThrowsError(try file.add("ids", SafeTensor(int32s: [1], shape: [1])))
        let data = try file.serialized()
        let headerLength = data.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        XCTAssertEqual((8 + headerLength) % 8, 0, "data buffer starts 8-aligned")
        let back = try SafeTensorsFile(data: data)
        XCTAssertEqual(back.metadata, file.metadata)
        XCTAssertEqual(Set(back.names), Set(file.names))
        for name in file.names { XCTAssertEqual(back[name], file[name], name) }
        XCTAssertEqual(try back.tensor("weights").floats().map(\.bitPattern), ([1, -2.5, .pi, 0, 1e-30, -0.0] as [Float]).map(\.bitPattern))
        XCTAssertEqual(try back.tensor("ids").int64s(), [7, -1, Int64.max])
        XCTAssertEqual(try back.tensor("small").int64s(), [5])
        XCTAssertThrowsError(try back.tensor("weights").int64s(name: "weights")) { XCTAssertTrue("\($0)".contains("F32")) }
        XCTAssertThrowsError(try back.tensor("missing")) { XCTAssertTrue("\($0)".contains("missing")) }

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try file.write(to: url)
        XCTAssertEqual(try SafeTensorsFile(contentsOf: url)["ids"], file["ids"])
    }

    func testReadsAFileWrittenByThePythonImplementation() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/models/bert.safetensors")
        let file = try SafeTensorsFile(contentsOf: url)
        XCTAssertEqual(try file.tensor("lengths").int64s(), [7, 4, 2])
        XCTAssertEqual(try file.tensor("input_ids").shape, [3, 7])
        XCTAssertEqual(try file.tensor("param.classifier.weight").shape, [3, 32])
        XCTAssertEqual(try file.tensor("loss").floats().count, 1)
    }

    func testRejectsMalformedFiles() {
        let f32 = [UInt8](repeating: 0, count: 8)
        assertRejects(Data([1, 2, 3])) { if case .truncated = $0 { return true }; return false }
        var huge = Data()
        withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { huge.append(contentsOf: $0) }
        assertRejects(huge) { if case .headerTooLarge = $0 { return true }; return false }
        var past = Data()
        withUnsafeBytes(of: UInt64(100).littleEndian) { past.append(contentsOf: $0) }
        past.append(contentsOf: Array("{}".utf8))
        assertRejects(past) { if case .headerOutOfBounds = $0 { return true }; return false }
        assertRejects(raw("[1,2]")) { if case .invalidHeader = $0 { return true }; return false }
        assertRejects(raw("{\"a\": \u{1}")) { if case .invalidHeader = $0 { return true }; return false }
        var badUTF8 = raw("{\"a\":1}  ")
        badUTF8[10] = 0xFF
        assertRejects(badUTF8) { if case .invalidHeader = $0 { return true }; return false }
        assertRejects(raw(#"{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#, f32)) {
            if case .unknownDType(_, "a", "F33") = $0 { return true }; return false
        }
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, f32)) {
            if case .invalidTensor(_, "a", _) = $0 { return true }; return false
        }
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, f32)) {
            if case .invalidTensor = $0 { return true }; return false
        }
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, f32)) {
            if case .invalidTensor = $0 { return true }; return false
        }
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, f32)) {
            if case .invalidOffsets(_, "a", _) = $0 { return true }; return false
        }
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}"#, f32)) {
            if case .invalidOffsets = $0 { return true }; return false
        }
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, f32)) {
            if case .invalidOffsets = $0 { return true }; return false
        }
        // Overlap, gap, trailing bytes.
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32)) {
            if case .invalidOffsets(_, _, let r) = $0 { return r.contains("overlaps") }; return false
        }
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32)) {
            if case .invalidOffsets(_, "a", let r) = $0 { return r.contains("gap") }; return false
        }
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, f32)) {
            if case .bufferLength(_, 4, 8) = $0 { return true }; return false
        }
        assertRejects(raw(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, f32)) {
            if case .invalidHeader = $0 { return true }; return false
        }
        assertRejects(raw(#"{"__metadata__":{"k":3}}"#)) { if case .invalidHeader = $0 { return true }; return false }
        // Valid edge cases: an empty file, trailing spaces, metadata only.
        XCTAssertNoThrow(try SafeTensorsFile(data: raw("{}")))
        XCTAssertNoThrow(try SafeTensorsFile(data: raw(#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}    "#, f32)))
        XCTAssertEqual(try SafeTensorsFile(data: raw(#"{"__metadata__":{"k":"v"}}"#)).metadata, ["k": "v"])
    }

    func testRandomCorruptionNeverCrashes() throws {
        var file = SafeTensorsFile()
        try file.add("w", SafeTensor(floats: (0..<24).map(Float.init), shape: [4, 6]))
        try file.add("i", SafeTensor(int64s: [1, 2, 3], shape: [3]))
        let valid = try file.serialized()
        var state: UInt64 = 0x1234_5678
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var rejected = 0
        for round in 0..<2000 {
            var data = valid
            if round % 3 == 0 {
                data = data.prefix(next() % data.count)
            } else {
                for _ in 0..<(1 + next() % 4) { data[next() % data.count] = UInt8(truncatingIfNeeded: next()) }
            }
            if (try? SafeTensorsFile(data: data)) == nil { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 500, "most corruptions are detected")
    }
}
