// The Swift implementation and the independent Python one (Formats/python/mmo.py) must agree:
// Python reads every value Swift wrote, Swift reads every value Python wrote. Missing Python
// modules are a failure with instructions, never a skip.

import Foundation
import XCTest

@testable import MMOFormat

/// Runs `python3 args…` in the repository root; fails the test (with how to fix it) when python3
/// or the three modules are missing. Returns standard output, or nil after a failure.
func runPython(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) -> Data? {
    func run(_ arguments: [String]) -> (status: Int32, output: Data, error: String)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.currentDirectoryURL = repositoryRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { return nil }
        // Read before waiting: a full pipe would block the child.
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, output, String(decoding: error, as: UTF8.self))
    }
    guard let probe = run(["-c", "import numpy, zstandard, xxhash"]), probe.status == 0 else {
        XCTFail(
            "python3 with numpy, zstandard and xxhash is required for the cross-language format tests; run `tools/setup --python` (README's test command does)",
            file: file, line: line)
        return nil
    }
    guard let result = run(arguments) else {
        XCTFail("could not start python3", file: file, line: line)
        return nil
    }
    guard result.status == 0 else {
        XCTFail("python3 \(arguments.joined(separator: " ")) exited with \(result.status):\n\(result.error)", file: file, line: line)
        return nil
    }
    return result.output
}

/// What `mmo.py dump --values` prints.
struct PythonDump: Decodable {
    struct Blob: Decodable {
        var name, dtype, codec, filter, xxh3, hex: String
        var shape: [Int]
        var length: Int
    }
    var content_hash: String
    var file_length: Int
    var state: String
    var blobs: [Blob]
}

func hexString(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

final class CrossLanguageTests: XCTestCase {
    func testPythonReadsEverythingSwiftWrote() throws {
        let url = try temporaryFolder(self).appendingPathComponent("swift.mmo")
        try writeSample(to: url)
        let reader = try MMOReader.open(url)
        guard let verified = runPython(["Formats/python/mmo.py", "verify", url.path]),
            let output = runPython(["Formats/python/mmo.py", "dump", url.path, "--values"])
        else { return }
        XCTAssertTrue(String(decoding: verified, as: UTF8.self).contains("\"blobs\": \(reader.blobs.count)"))
        let dump = try JSONDecoder().decode(PythonDump.self, from: output)
        XCTAssertEqual(dump.content_hash, hex16(reader.contentHash))
        XCTAssertEqual(dump.file_length, reader.fileLength)
        XCTAssertEqual(Data(dump.state.utf8), sampleState)
        let sample = sampleBlobs()
        XCTAssertEqual(dump.blobs.map(\.name), sample.map(\.name))
        for (got, expected) in zip(dump.blobs, sample) {
            XCTAssertEqual(got.hex, hexString(expected.bytes), expected.name)
            XCTAssertEqual(got.dtype, expected.dtype.rawValue, expected.name)
            XCTAssertEqual(got.shape, expected.shape, expected.name)
            let mine = try XCTUnwrap(reader.blob(named: expected.name))
            XCTAssertEqual(got.codec, mine.codec.rawValue, expected.name)
            XCTAssertEqual(got.filter, mine.filter.rawValue, expected.name)
            XCTAssertEqual(got.xxh3, hex16(mine.checksum), expected.name)
        }
    }

    /// The values of `mmo.py`'s `sample_arrays()`, recomputed here from the same formulas.
    func expectedPythonSample() -> [(String, MMODType, [Int], [UInt8])] {
        let hashed = (0..<4096).map { i -> Float in
            Float(Double((UInt64(i) &* 2_654_435_761) % (1 << 32)) / 4_294_967_296.0 - 0.5)
        }
        return [
            ("py/f32", .f32, [3, 5], bytesOf((0..<15).map { Float($0) * 0.5 - 3.25 })),
            ("py/f64", .f64, [4], bytesOf((0..<4).map { Double($0) / 3.0 })),
            ("py/f16", .f16, [6], bytesOf([UInt16]([0xC100, 0xBE00, 0xB800, 0x3800, 0x3E00, 0x4100]))),
            ("py/bf16", .bf16, [2, 2], bytesOf([UInt16]([0x3F80, 0xC000, 0x0000, 0x7F80]))),
            ("py/i64", .i64, [3], bytesOf([Int64]([-(1 << 62), 0, (1 << 62) + 5]))),
            ("py/u64", .u64, [2], bytesOf([UInt64]([.max, (1 << 53) + 1]))),
            ("py/i32", .i32, [3], bytesOf([Int32]([-7, .max, .min]))),
            ("py/u32", .u32, [2], bytesOf([UInt32]([0, .max]))),
            ("py/i16", .i16, [3], bytesOf([Int16]([.min, .max, 1]))),
            ("py/u16", .u16, [2], bytesOf([UInt16]([.max, 3]))),
            ("py/i8", .i8, [4], bytesOf([Int8]([.min, .max, 0, -1]))),
            ("py/u8", .u8, [10], Array("hello, mmo".utf8)),
            ("py/zeros", .f32, [128, 4], [UInt8](repeating: 0, count: 2048)),
            ("py/scalar", .f32, [], bytesOf([Float(42)])),
            ("py/empty", .i32, [0, 3], []),
            ("py/hashed", .f32, [64, 64], bytesOf(hashed)),
            ("py/raw", .f32, [16], bytesOf(Array(hashed[0..<16]))),
        ]
    }

    func testSwiftReadsEverythingPythonWrote() throws {
        let url = try temporaryFolder(self).appendingPathComponent("python.mmo")
        guard runPython(["Formats/python/mmo.py", "write-sample", url.path]) != nil else { return }
        let reader = try MMOReader.open(url)
        try reader.verify()
        let expected = expectedPythonSample()
        XCTAssertEqual(reader.blobs.map(\.name), expected.map(\.0))
        for (name, dtype, shape, bytes) in expected {
            let blob = try XCTUnwrap(reader.blob(named: name))
            XCTAssertEqual(blob.dtype, dtype, name)
            XCTAssertEqual(blob.shape, shape, name)
            XCTAssertEqual(Array(try reader.data(name)), bytes, name)
        }
        XCTAssertEqual(reader.blob(named: "py/zeros")?.codec, .zero)
        XCTAssertEqual(reader.blob(named: "py/hashed")?.filter, .shuffle)
        XCTAssertEqual(reader.blob(named: "py/raw")?.codec, .raw)
        struct State: Decodable, Equatable {
            var producer: String
            var step: Int
            var unicode: String
            var big: UInt64
        }
        XCTAssertEqual(
            try reader.stateDocument(as: State.self), State(producer: "mmo.py", step: 7, unicode: "héllo ✓", big: .max))
    }

    /// The Python implementation's own unit tests (corruption, strict JSON, round trips) run as
    /// part of `swift test`, so CI covers them without a separate step.
    func testPythonUnitTests() throws {
        XCTAssertNotNil(runPython(["-m", "unittest", "discover", "-s", "Formats/python", "-p", "test_*.py", "-q"]))
    }
}
