// Each validation rule of spec §7 on a hand-made file whose checksums are all correct, so that
// only the rule under test can reject it; the error must have the right kind and name the field.

import CZstd
import Foundation
import XCTest

@testable import MMOFormat

/// Assembles a file from explicit parts: canonical offsets, correct index and header checksums.
/// `members` are the JSON members of each entry except `offset`, which the builder adds.
func buildFile(
    state: [UInt8] = Array("{}".utf8), stateMembers: String? = nil, blobs: [(members: String, stored: [UInt8])] = [],
    major: UInt32 = 1, minor: UInt32 = 0, editIndex: (String) -> String = { $0 }
) -> [UInt8] {
    var body: [UInt8] = []
    var position = 64
    func place(_ stored: [UInt8]) -> Int {
        let offset = position
        body += stored
        position += stored.count
        let padded = alignUp(position)
        body += [UInt8](repeating: 0, count: padded - position)
        position = padded
        return offset
    }
    let stateChecksum = state.withUnsafeBytes { xxh3($0) }
    let defaultState = "\"codec\":\"raw\",\"stored_length\":\(state.count),\"length\":\(state.count),\"xxh3\":\"\(hex16(stateChecksum))\""
    let stateEntry = "{\(stateMembers ?? defaultState),\"offset\":\(place(state))}"
    let blobEntries = blobs.map { "{\($0.members),\"offset\":\(place($0.stored))}" }
    let index = Array(editIndex("{\"state\":\(stateEntry),\"blobs\":[\(blobEntries.joined(separator: ","))]}").utf8)
    let header = MMOHeader(
        majorVersion: major, minorVersion: minor, fileLength: position + index.count, indexOffset: position,
        indexLength: index.count, indexChecksum: index.withUnsafeBytes { xxh3($0) })
    return header.encoded() + body + index
}

/// Members of a raw blob holding `bytes`.
func rawMembers(_ name: String, dtype: String = "u8", shape: [Int]? = nil, bytes: [UInt8]) -> String {
    let shape = shape ?? [bytes.count]
    return "\"name\":\"\(name)\",\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"filter\":\"none\",\"codec\":\"raw\",\"stored_length\":\(bytes.count),\"length\":\(bytes.count),\"xxh3\":\"\(hex16(bytes.withUnsafeBytes { xxh3($0) }))\""
}

/// A one-shot zstd frame of `bytes`.
func zstdFrame(_ bytes: [UInt8], level: Int32 = 1) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes.count))
    let n = ZSTD_compress(&out, out.count, bytes, bytes.count, level)
    return Array(out[0..<n])
}

/// Members of a zstd blob whose raw bytes are `raw` and stored bytes `frame`.
func zstdMembers(_ name: String, raw: [UInt8], frame: [UInt8]) -> String {
    "\"name\":\"\(name)\",\"dtype\":\"u8\",\"shape\":[\(raw.count)],\"filter\":\"none\",\"codec\":\"zstd\",\"stored_length\":\(frame.count),\"length\":\(raw.count),\"xxh3\":\"\(hex16(raw.withUnsafeBytes { xxh3($0) }))\",\"stored_xxh3\":\"\(hex16(frame.withUnsafeBytes { xxh3($0) }))\""
}

final class ValidationTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws { folder = try temporaryFolder(self) }

    /// Writes `bytes` and returns the error of open + verify + decoding everything (nil if fine).
    func failure(_ bytes: [UInt8]) throws -> MMOFormatError? {
        let url = folder.appendingPathComponent("case.mmo")
        try Data(bytes).write(to: url)
        do {
            try readEverything(url)
            return nil
        } catch let error as MMOFormatError {
            return error
        }
    }

    func expect(_ bytes: [UInt8], _ kind: MMOFormatErrorKind, at location: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let error = try failure(bytes) else { return XCTFail("accepted a file that breaks a rule", file: file, line: line) }
        XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
        XCTAssertTrue(error.location.contains(location), "location \"\(error.location)\" should name \(location): \(error)", file: file, line: line)
        XCTAssertTrue(error.description.hasPrefix(folder.appendingPathComponent("case.mmo").path), "the error names the file", file: file, line: line)
    }

    let data: [UInt8] = Array(0..<40)

    func testBuilderMakesValidFiles() throws {
        XCTAssertNil(try failure(buildFile(blobs: [(rawMembers("a", bytes: data), data)])))
        let raw = [UInt8](repeating: 7, count: 5000)
        XCTAssertNil(try failure(buildFile(blobs: [(zstdMembers("z", raw: raw, frame: zstdFrame(raw)), zstdFrame(raw))])))
    }

    func testHeaderRules() throws {
        let good = buildFile(blobs: [(rawMembers("a", bytes: data), data)])
        try expect([], .truncated, at: "header")
        try expect(Array(good[0..<63]), .truncated, at: "header")
        try expect(Array("not a checkpoint at all, just some text that is long enough...".utf8) + [UInt8](repeating: 0, count: 64), .notMMO, at: "header.magic")
        try expect(buildFile(major: 2), .unsupportedVersion, at: "header.major_version")
        var reserved = good
        patchHeader(&reserved) { $0[50] = 1 }
        try expect(reserved, .invalidHeader, at: "header.reserved")
        var damaged = good
        damaged[20] ^= 1
        try expect(damaged, .checksumMismatch, at: "header.header_xxh3")
        try expect(good + [0], .trailingBytes, at: "header.file_length")
        try expect(Array(good.dropLast()), .truncated, at: "header.file_length")
        var badIndex = good
        badIndex[badIndex.count - 3] ^= 0x20
        try expect(badIndex, .checksumMismatch, at: "index")
        // Index offset not aligned / index length over the cap / index not ending the file.
        var misaligned = good
        patchHeader(&misaligned) { $0[24] &+= 1 }
        try expect(misaligned, .invalidHeader, at: "header.index_offset")
        var huge = good
        patchHeader(&huge) { header in
            withUnsafeBytes(of: UInt64(65 << 20).littleEndian) { header.replaceSubrange(32..<40, with: $0) }
        }
        try expect(huge, .invalidHeader, at: "header.index_length")
        var short = good
        patchHeader(&short) { $0[32] &-= 1 }
        try expect(short, .invalidLayout, at: "header.index_offset")
    }

    func testNewerMinorVersionIgnoresUnknownKeysButOwnVersionRejectsThem() throws {
        let members = rawMembers("a", bytes: data) + ",\"future\":{\"x\":1}"
        try expect(buildFile(blobs: [(members, data)]), .malformedIndex, at: "index.blobs[0]")
        XCTAssertNil(try failure(buildFile(blobs: [(members, data)], minor: 1)))
        let url = folder.appendingPathComponent("case.mmo")
        XCTAssertEqual(try MMOReader.open(url).minorVersion, 1)
    }

    func testIndexSyntaxRules() throws {
        let blob = [(rawMembers("a", bytes: data), data)]
        func edited(_ edit: @escaping (String) -> String) -> [UInt8] { buildFile(blobs: blob, editIndex: edit) }
        try expect(edited { $0 + "x" }, .malformedIndex, at: "index")
        try expect(edited { "\u{FEFF}" + $0 }, .malformedIndex, at: "index")
        try expect(edited { $0.replacingOccurrences(of: "\"name\":\"a\"", with: "\"name\":\"a\",\"name\":\"a\"") }, .malformedIndex, at: "index")
        try expect(edited { $0.replacingOccurrences(of: "\"name\":\"a\"", with: "\"name\":\"\\ud800\"") }, .malformedIndex, at: "index")
        try expect(edited { $0.replacingOccurrences(of: "\"length\":40", with: "\"length\":NaN") }, .malformedIndex, at: "index")
        try expect(edited { $0.replacingOccurrences(of: "\"length\":40", with: "\"length\":40.0") }, .malformedIndex, at: ".length")
        try expect(edited { $0.replacingOccurrences(of: "\"length\":40", with: "\"length\":4e1") }, .malformedIndex, at: ".length")
        try expect(edited { $0.replacingOccurrences(of: "\"length\":40", with: "\"length\":-40") }, .malformedIndex, at: ".length")
        try expect(edited { $0.replacingOccurrences(of: "\"length\":40", with: "\"length\":040") }, .malformedIndex, at: "index")
        try expect(edited { $0.replacingOccurrences(of: "\"length\":40", with: "\"length\":\"40\"") }, .malformedIndex, at: ".length")
        try expect(edited { $0.replacingOccurrences(of: "\"length\":40", with: "\"length\":9007199254740992") }, .malformedIndex, at: ".length")
        try expect(edited { $0.replacingOccurrences(of: "\"length\":40", with: "\"length\":99999999999999999999999") }, .malformedIndex, at: ".length")
        try expect(edited { "[" + String(repeating: "[", count: 100_000) + $0 }, .malformedIndex, at: "index")
        try expect(edited { $0.replacingOccurrences(of: "\"state\"", with: "\"State\"") }, .malformedIndex, at: "index")
        try expect(edited { $0.replacingOccurrences(of: "\"blobs\":[", with: "\"blobs\":{\"x\":[").replacingOccurrences(of: "}]}", with: "}]}}") }, .malformedIndex, at: "index.blobs")
        try expect(edited { $0.replacingOccurrences(of: "\"name\":\"a\"", with: "\"name\":\"\u{1}\"") }, .malformedIndex, at: "index")
        // Invalid UTF-8 inside a string.
        let file = buildFile(blobs: [(rawMembers("QQ", bytes: data), data)])
        var index = indexBytes(file)
        let at = (0..<index.count - 1).first { index[$0] == UInt8(ascii: "Q") && index[$0 + 1] == UInt8(ascii: "Q") }!
        index[at] = 0xFF
        index[at + 1] = 0xFE
        try expect(replacingIndex(file, with: index), .malformedIndex, at: "index")
    }

    func testEntryRules() throws {
        func with(_ edit: (String) -> String) -> [UInt8] { buildFile(blobs: [(edit(rawMembers("a", bytes: data)), data)]) }
        try expect(with { $0.replacingOccurrences(of: "\"dtype\":\"u8\"", with: "\"dtype\":\"f128\"") }, .invalidBlob, at: ".dtype")
        try expect(with { $0.replacingOccurrences(of: "\"dtype\":\"u8\"", with: "\"dtype\":\"f32\"") }, .invalidBlob, at: ".length")
        try expect(with { $0.replacingOccurrences(of: "\"shape\":[40]", with: "\"shape\":[41]") }, .invalidBlob, at: ".length")
        try expect(with { $0.replacingOccurrences(of: "\"shape\":[40]", with: "\"shape\":[1,1,1,1,1,1,1,1,40]") }, .invalidBlob, at: ".shape")
        try expect(with { $0.replacingOccurrences(of: "\"shape\":[40]", with: "\"shape\":[4294967296,4294967296]") }, .invalidBlob, at: ".length")
        try expect(with { $0.replacingOccurrences(of: "\"shape\":[40]", with: "\"shape\":40") }, .malformedIndex, at: ".shape")
        try expect(with { $0.replacingOccurrences(of: "\"filter\":\"none\"", with: "\"filter\":\"shuffle\"") }, .invalidBlob, at: ".filter")
        try expect(with { $0.replacingOccurrences(of: "\"filter\":\"none\"", with: "\"filter\":\"delta\"") }, .invalidBlob, at: ".filter")
        try expect(with { $0.replacingOccurrences(of: "\"codec\":\"raw\"", with: "\"codec\":\"lz4\"") }, .malformedIndex, at: ".codec")
        try expect(with { $0.replacingOccurrences(of: "\"codec\":\"raw\"", with: "\"codec\":\"zero\"") }, .invalidBlob, at: ".stored_length")
        try expect(with { $0.replacingOccurrences(of: "\"name\":\"a\"", with: "\"name\":\"a b\"") }, .invalidBlob, at: ".name")
        try expect(with { $0.replacingOccurrences(of: "\"name\":\"a\"", with: "\"name\":\"\"") }, .invalidBlob, at: ".name")
        try expect(with { $0.replacingOccurrences(of: "\"name\":\"a\"", with: "\"name\":\"é\"") }, .invalidBlob, at: ".name")
        let checksum = hex16(data.withUnsafeBytes { xxh3($0) })
        XCTAssertNotEqual(checksum, checksum.uppercased(), "the test needs a checksum with letters")
        try expect(with { $0.replacingOccurrences(of: checksum, with: checksum.uppercased()) }, .malformedIndex, at: ".xxh3")
        try expect(with { $0.replacingOccurrences(of: checksum, with: String(checksum.dropLast())) }, .malformedIndex, at: ".xxh3")
        try expect(with { $0 + ",\"stored_xxh3\":\"0000000000000000\"" }, .invalidBlob, at: ".stored_xxh3")
        try expect(with { $0.replacingOccurrences(of: ",\"xxh3\"", with: ",\"xxh4\"") }, .malformedIndex, at: "index.blobs[0]")
        // Duplicate names.
        try expect(buildFile(blobs: [(rawMembers("a", bytes: data), data), (rawMembers("a", bytes: data), data)]), .invalidBlob, at: "index.blobs[1].name")
        // The state document: zero codec, too short.
        try expect(buildFile(stateMembers: "\"codec\":\"zero\",\"stored_length\":0,\"length\":2,\"xxh3\":\"0000000000000000\""), .malformedIndex, at: "index.state.codec")
        try expect(buildFile(state: Array("1".utf8)), .invalidStateDocument, at: "index.state.length")
        try expect(buildFile(state: Array("[1]".utf8)), .invalidStateDocument, at: "state document")
        try expect(buildFile(state: Array("{\"a\":1,\"a\":1}".utf8)), .invalidStateDocument, at: "state document")
    }

    func testZstdRules() throws {
        let raw = [UInt8](repeating: 3, count: 5000) + Array(0..<200)
        let frame = zstdFrame(raw)
        // Expansion bound: a frame of n bytes cannot claim more than 32768 n raw bytes.
        let bomb = zstdMembers("z", raw: raw, frame: frame).replacingOccurrences(of: "\"length\":5200", with: "\"length\":\(frame.count * 32768 + 1)")
            .replacingOccurrences(of: "\"shape\":[5200]", with: "\"shape\":[\(frame.count * 32768 + 1)]")
        try expect(buildFile(blobs: [(bomb, frame)]), .invalidBlob, at: ".length")
        // Two frames in one region.
        let twice = frame + frame
        try expect(buildFile(blobs: [(zstdMembers("z", raw: raw, frame: twice).replacingOccurrences(of: "\"xxh3\":\"\(hex16(twice.withUnsafeBytes { xxh3($0) }))", with: "\"xxh3\":\"\(hex16(raw.withUnsafeBytes { xxh3($0) }))"), twice)]), .decodeFailed, at: "blob \"z\"")
        // A frame that declares a different size than the index.
        let shorter = Array(raw.dropLast())
        let otherFrame = zstdFrame(shorter)
        let mismatched = zstdMembers("z", raw: raw, frame: otherFrame)
        try expect(buildFile(blobs: [(mismatched, otherFrame)]), .decodeFailed, at: "blob \"z\"")
        // A frame without a declared content size (streaming frame).
        let context = ZSTD_createCCtx()
        defer { ZSTD_freeCCtx(context) }
        let unknownSize: [UInt8] = raw.withUnsafeBytes { bytes in
            var streamed = [UInt8](repeating: 0, count: ZSTD_compressBound(raw.count))
            let written = streamed.withUnsafeMutableBytes { out -> Int in
                var output = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
                // Flushing before the end writes the frame header before the size is known.
                XCTAssertEqual(ZSTD_compressStream2(context, &output, &input, ZSTD_e_flush), 0)
                XCTAssertEqual(ZSTD_compressStream2(context, &output, &input, ZSTD_e_end), 0)
                return output.pos
            }
            return Array(streamed[0..<written])
        }
        XCTAssertEqual(ZSTD_getFrameContentSize(unknownSize, unknownSize.count), ZSTD_CONTENTSIZE_UNKNOWN)
        try expect(buildFile(blobs: [(zstdMembers("z", raw: raw, frame: unknownSize), unknownSize)]), .decodeFailed, at: "blob \"z\"")
        // Not a frame at all, with a matching stored checksum.
        let garbage = [UInt8](repeating: 0x55, count: 64)
        try expect(buildFile(blobs: [(zstdMembers("z", raw: raw, frame: garbage), garbage)]), .decodeFailed, at: "blob \"z\"")
        // Damaged frame: the stored checksum catches it before the decompressor sees it.
        var damaged = frame
        damaged[damaged.count / 2] ^= 0x40
        try expect(buildFile(blobs: [(zstdMembers("z", raw: raw, frame: frame), damaged)]), .checksumMismatch, at: "blob \"z\"")
        // Decodes fine but to other bytes than the raw checksum says.
        try expect(buildFile(blobs: [(zstdMembers("z", raw: raw.reversed(), frame: frame), frame)]), .checksumMismatch, at: "blob \"z\"")
        // Zero codec whose checksum is not that of zeros.
        let zero = "\"name\":\"0\",\"dtype\":\"u8\",\"shape\":[9],\"filter\":\"none\",\"codec\":\"zero\",\"stored_length\":0,\"length\":9,\"xxh3\":\"0123456789abcdef\""
        try expect(buildFile(blobs: [(zero, [])]), .checksumMismatch, at: "blob \"0\"")
    }

    func testLayoutRules() throws {
        let blobs = [(rawMembers("a", bytes: data), data), (rawMembers("b", bytes: data), data)]
        let good = buildFile(blobs: blobs)
        XCTAssertNil(try failure(good))
        // Shift an offset by 64 (overlap / gap) or by 1 (alignment); the builder's offsets are 64, 128, 192.
        try expect(buildFile(blobs: blobs) { $0.replacingOccurrences(of: "\"offset\":192", with: "\"offset\":128") }, .invalidLayout, at: "index.blobs[1]")
        try expect(buildFile(blobs: blobs) { $0.replacingOccurrences(of: "\"offset\":192", with: "\"offset\":193") }, .invalidLayout, at: "index.blobs[1]")
        try expect(buildFile(blobs: blobs) { $0.replacingOccurrences(of: "\"offset\":128", with: "\"offset\":192") }, .invalidLayout, at: "index.blobs[0]")
        // Claims more stored bytes than the file holds.
        let long = rawMembers("a", bytes: data).replacingOccurrences(of: "\"stored_length\":40,\"length\":40", with: "\"stored_length\":4000000,\"length\":4000000")
            .replacingOccurrences(of: "\"shape\":[40]", with: "\"shape\":[4000000]")
        try expect(buildFile(blobs: [(long, data)]), .invalidLayout, at: "index.blobs[0]")
        // Non-zero padding is found by verify.
        var padded = good
        padded[128 + 40] = 1
        try expect(padded, .nonZeroPadding, at: "padding after blob \"a\"")
        // Damaged raw bytes are found by the raw checksum.
        var damaged = good
        damaged[130] ^= 1
        try expect(damaged, .checksumMismatch, at: "blob \"a\"")
    }
}
