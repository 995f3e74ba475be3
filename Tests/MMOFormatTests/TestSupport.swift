// Shared fixtures of the format tests: temporary folders, a deterministic sample checkpoint that
// covers every dtype, codec and filter, and byte-level helpers for building damaged files.

import Foundation
import XCTest

@testable import MMOFormat

/// SplitMix64: a tiny deterministic generator, so the tests need nothing but MMOFormat.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
    /// Normal N(0, std²) (Box–Muller).
    mutating func normal(std: Double) -> Float {
        let u = max(uniform(), 1e-300), v = uniform()
        return Float(std * (-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }
    /// Uniform integer in 0..<bound.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// A fresh folder under the system temporary directory, removed by `addTeardownBlock`.
func temporaryFolder(_ test: XCTestCase, _ name: String = #function) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("mmo-tests-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// The repository root (this file is `Tests/MMOFormatTests/TestSupport.swift`).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// One blob of the sample: what is added, and what must come back.
struct SampleBlob {
    var name: String
    var dtype: MMODType
    var shape: [Int]
    var bytes: [UInt8]
    var hint: MMOStorageHint = .automatic
}

/// Bytes of `values` in memory (little-endian on every supported host).
func bytesOf<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

/// A deterministic sample covering every dtype, the three codecs, both filters, scalars, empty
/// arrays and every storage hint.
func sampleBlobs(seed: UInt64 = 1) -> [SampleBlob] {
    var rng = SplitMix64(state: seed)
    let weights = (0..<(64 * 48)).map { _ in rng.normal(std: 0.02) }
    let moments = (0..<(64 * 48)).map { _ in rng.normal(std: 1e-4) }
    let noise = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    return [
        SampleBlob(name: "model/bert/w", dtype: .f32, shape: [64, 48], bytes: bytesOf(weights)),
        SampleBlob(name: "model/bert/b", dtype: .f32, shape: [48], bytes: bytesOf([Float](repeating: 0, count: 48))),
        SampleBlob(name: "optim/bert/m/w", dtype: .f32, shape: [64, 48], bytes: bytesOf(moments)),
        SampleBlob(name: "f64", dtype: .f64, shape: [10], bytes: bytesOf((0..<10).map { Double($0) / 7 })),
        SampleBlob(name: "f16", dtype: .f16, shape: [33], bytes: bytesOf((0..<33).map { UInt16(0x3C00 + $0 * 3) })),
        SampleBlob(name: "bf16", dtype: .bf16, shape: [7, 5], bytes: bytesOf((0..<35).map { UInt16(0x3F80 &+ $0 &* 17) })),
        SampleBlob(name: "i64", dtype: .i64, shape: [5], bytes: bytesOf([Int64.min, -1, 0, 1, Int64.max])),
        SampleBlob(name: "u64", dtype: .u64, shape: [3], bytes: bytesOf([UInt64.max, UInt64(1) << 53 + 1, 7] as [UInt64])),
        SampleBlob(name: "i32", dtype: .i32, shape: [2, 2], bytes: bytesOf([Int32.min, -5, 5, Int32.max])),
        SampleBlob(name: "u32", dtype: .u32, shape: [2], bytes: bytesOf([UInt32.max, 0])),
        SampleBlob(name: "i16", dtype: .i16, shape: [3], bytes: bytesOf([Int16.min, 0, Int16.max])),
        SampleBlob(name: "u16", dtype: .u16, shape: [1], bytes: bytesOf([UInt16(65535)])),
        SampleBlob(name: "i8", dtype: .i8, shape: [4], bytes: bytesOf([Int8.min, -1, 1, Int8.max])),
        SampleBlob(name: "u8/text", dtype: .u8, shape: [12], bytes: Array("hello, world".utf8)),
        SampleBlob(name: "scalar", dtype: .f32, shape: [], bytes: bytesOf([Float(42.5)])),
        SampleBlob(name: "empty", dtype: .f32, shape: [0, 4], bytes: []),
        SampleBlob(name: "noise", dtype: .u8, shape: [1000], bytes: noise),
        SampleBlob(name: "raw-hint", dtype: .f32, shape: [16], bytes: bytesOf(Array(weights[0..<16])), hint: .raw),
        SampleBlob(name: "zero-raw-hint", dtype: .f32, shape: [8], bytes: bytesOf([Float](repeating: 0, count: 8)), hint: .raw),
        SampleBlob(name: "no-shuffle", dtype: .f32, shape: [64, 48], bytes: bytesOf(weights), hint: .noShuffle),
        SampleBlob(name: "int-shuffle", dtype: .i32, shape: [256], bytes: bytesOf((0..<256).map { Int32($0 * 1000) }), hint: .shuffle),
    ]
}

/// The sample state document (non-ASCII text and a 64-bit integer beyond 2^53 on purpose).
let sampleState = Data(#"{"format":{"name":"mmo-state","version":1},"step":3,"nested":{"a":[1,2.5,"x"]},"unicode":"h\u00e9llo ✓","counter":18446744073709551615}"#.utf8)

/// Writes the sample to `url`.
@discardableResult
func writeSample(to url: URL, options: MMOWriteOptions = MMOWriteOptions(), seed: UInt64 = 1) throws -> MMOWriteReport {
    var writer = MMOWriter(options: options)
    try writer.setStateDocument(sampleState)
    for blob in sampleBlobs(seed: seed) {
        try writer.add(blob.name, dtype: blob.dtype, shape: blob.shape, bytes: Data(blob.bytes), hint: blob.hint)
    }
    return try writer.write(to: url)
}

/// Asserts that `body` throws an `MMOFormatError`, and returns it.
@discardableResult
func assertFormatError(
    _ body: @autoclosure () throws -> some Any, kind: MMOFormatErrorKind? = nil, file: StaticString = #filePath, line: UInt = #line
) -> MMOFormatError? {
    do {
        _ = try body()
        XCTFail("expected an MMOFormatError\(kind.map { " of kind \($0)" } ?? ""), nothing was thrown", file: file, line: line)
    } catch let error as MMOFormatError {
        if let kind { XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line) }
        return error
    } catch {
        XCTFail("expected an MMOFormatError, got \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}

/// Opens, verifies and decodes every blob of `url`; throws on the first problem.
func readEverything(_ url: URL) throws {
    let reader = try MMOReader.open(url)
    try reader.verify(threads: 1)
    _ = try reader.stateDocument()
    for blob in reader.blobs { _ = try reader.data(blob.name) }
}

/// Rewrites header fields of `bytes` and fixes the header checksum, so that only the field
/// semantics can be at fault.
func patchHeader(_ bytes: inout [UInt8], _ edit: (inout [UInt8]) -> Void, fixIndexChecksum: Bool = false) {
    edit(&bytes)
    if fixIndexChecksum {
        let offset = Int(bytes[24..<32].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let checksum = bytes[offset...].withUnsafeBytes { xxh3($0) }
        withUnsafeBytes(of: checksum.littleEndian) { bytes.replaceSubrange(40..<48, with: $0) }
    }
    let h = bytes[0..<56].withUnsafeBytes { xxh3($0) }
    withUnsafeBytes(of: h.littleEndian) { bytes.replaceSubrange(56..<64, with: $0) }
}

/// Replaces the index of `bytes` with `index` (checksums and lengths fixed up).
func replacingIndex(_ bytes: [UInt8], with index: [UInt8]) -> [UInt8] {
    let offset = Int(bytes[24..<32].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    var out = Array(bytes[..<offset]) + index
    patchHeader(&out, { b in
        withUnsafeBytes(of: UInt64(b.count).littleEndian) { b.replaceSubrange(16..<24, with: $0) }
        withUnsafeBytes(of: UInt64(index.count).littleEndian) { b.replaceSubrange(32..<40, with: $0) }
    }, fixIndexChecksum: true)
    return out
}

/// The index bytes of a file.
func indexBytes(_ bytes: [UInt8]) -> [UInt8] {
    let offset = Int(bytes[24..<32].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    return Array(bytes[offset...])
}
