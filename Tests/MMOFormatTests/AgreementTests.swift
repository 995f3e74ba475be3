// The edges of the specification where readers used to disagree (strict JSON of the state
// document, the 2^40 length cap and zero blobs, the element-count rule, nesting depth, zstd frame
// headers): each case is crafted here, and the Swift reader and the independent Python reader
// (Formats/python/mmo.py, run as a child process) must both accept it or both refuse it, with
// the verdict the specification gives.

import CXXHash
import Foundation
import XCTest

@testable import MMOFormat

#if canImport(Glibc)
    import Glibc
#endif

/// A hand-assembled zstd frame (RFC 8878), so that every header field §4 talks about can be set.
struct CraftedFrame {
    var content: [UInt8] = Array(0..<200).map { UInt8($0 % 7) }
    /// Content size counted only (RLE blocks of zeros), for frames too large to hold in memory.
    var zeroCount: Int?
    var singleSegment = true
    /// Window_Descriptor byte when not single-segment (exponent << 3 | mantissa).
    var windowDescriptor: UInt8 = 0
    /// Dictionary_ID field: (size in bytes, value); size 0 = absent.
    var dictionaryID: (size: Int, value: UInt32) = (0, 0)
    var declaresContentSize = true
    var checksum: (present: Bool, correct: Bool) = (false, true)
    var reservedBit = false

    var length: Int { zeroCount ?? content.count }

    func bytes() -> [UInt8] {
        var out: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
        let fcsFlag: UInt8 = declaresContentSize ? 3 : 0  // 8-byte content size, or none
        let didFlag: UInt8 = [0: 0, 1: 1, 2: 2, 4: 3][dictionaryID.size]!
        var descriptor = fcsFlag << 6 | didFlag
        if singleSegment { descriptor |= 0x20 }
        if checksum.present { descriptor |= 0x04 }
        if reservedBit { descriptor |= 0x08 }
        out.append(descriptor)
        if !singleSegment { out.append(windowDescriptor) }
        for k in 0..<dictionaryID.size { out.append(UInt8(truncatingIfNeeded: dictionaryID.value >> (8 * UInt32(k)))) }
        if declaresContentSize { for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: UInt64(length) >> (8 * UInt64(k)))) } }
        func block(last: Bool, type: UInt32, size: Int) {
            let header = (last ? 1 : 0) | type << 1 | UInt32(size) << 3
            out += [UInt8(header & 0xFF), UInt8(header >> 8 & 0xFF), UInt8(header >> 16)]
        }
        let maxBlock = 1 << 17
        if let zeros = zeroCount {
            var left = zeros
            repeat {
                let n = min(left, maxBlock)
                left -= n
                block(last: left == 0, type: 1, size: n)  // RLE block of n zero bytes
                out.append(0)
            } while left > 0
        } else {
            block(last: true, type: 0, size: content.count)  // raw block
            out += content
        }
        if checksum.present {
            precondition(zeroCount == nil)
            let sum = UInt32(truncatingIfNeeded: XXH64(content, content.count, 0)) ^ (checksum.correct ? 0 : 1)
            for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: sum >> (8 * UInt32(k)))) }
        }
        return out
    }

    /// Blob members for this frame (u8 elements).
    func members(_ name: String) -> (members: String, stored: [UInt8]) {
        let frame = bytes()
        let raw = zeroCount.map { ZeroHash.of($0) } ?? content.withUnsafeBytes { xxh3($0) }
        let members = "\"name\":\"\(name)\",\"dtype\":\"u8\",\"shape\":[\(length)],\"filter\":\"none\",\"codec\":\"zstd\",\"stored_length\":\(frame.count),\"length\":\(length),\"xxh3\":\"\(hex16(raw))\",\"stored_xxh3\":\"\(hex16(frame.withUnsafeBytes { xxh3($0) }))\""
        return (members, frame)
    }
}

/// Members of a zero blob of `length` bytes, `shape` (default `[length]` of u8).
func zeroMembers(_ name: String, length: Int, shape: String? = nil, checksum: UInt64? = nil) -> String {
    "\"name\":\"\(name)\",\"dtype\":\"u8\",\"shape\":\(shape ?? "[\(length)]"),\"filter\":\"none\",\"codec\":\"zero\",\"stored_length\":0,\"length\":\(length),\"xxh3\":\"\(hex16(checksum ?? ZeroHash.of(length)))\""
}

final class AgreementTests: XCTestCase {
    struct Case {
        var name: String
        var bytes: [UInt8]
        var accept: Bool
    }

    /// Nothing but the whole document is parsed; used to prove `stateDocument(as:)` is strict.
    struct AnyObject: Decodable {}

    func cases() -> [Case] {
        var cases: [Case] = []
        func add(_ name: String, _ accept: Bool, _ bytes: [UInt8]) { cases.append(Case(name: name, bytes: bytes, accept: accept)) }
        func state(_ text: String) -> [UInt8] { buildFile(state: Array(text.utf8)) }

        // State document: the strict JSON rules of §9 / §7.4.
        add("state-duplicate-key", false, state(#"{"a":1,"a":2}"#))
        add("state-duplicate-key-escaped", false, state(#"{"a":1,"\u0061":2}"#))
        add("state-bom", false, buildFile(state: [0xEF, 0xBB, 0xBF] + Array("{}".utf8)))
        add("state-lone-high-surrogate", false, state(#"{"a":"\ud800"}"#))
        add("state-lone-low-surrogate", false, state(#"{"a":"x\udc00"}"#))
        add("state-lone-surrogate-key", false, state(#"{"\ud800":1}"#))
        add("state-surrogate-pair", true, state(#"{"a":"\ud83d\ude00"}"#))
        add("state-invalid-utf8", false, buildFile(state: Array(#"{"a":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8)))
        add("state-encoded-surrogate", false, buildFile(state: Array(#"{"a":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8)))
        add("state-5000-digit-integer", true, state("{\"a\":\(String(repeating: "7", count: 5000))}"))
        add("state-depth-512", true, state("{\"a\":" + String(repeating: "[", count: 511) + String(repeating: "]", count: 511) + "}"))
        add("state-depth-513", false, state("{\"a\":" + String(repeating: "[", count: 512) + String(repeating: "]", count: 512) + "}"))
        add("state-not-object", false, state("[1,2]"))

        // Index depth (§7.2.3: the top-level object is depth 1), through unknown keys of a newer
        // minor version at each level of the index.
        let data: [UInt8] = Array(0..<40)
        func nested(_ arrays: Int) -> String { String(repeating: "[", count: arrays) + "1" + String(repeating: "]", count: arrays) }
        func newer(root: String = "", state extraState: String = "", blob: String = "") -> [UInt8] {
            buildFile(blobs: [(rawMembers("a", bytes: data) + blob, data)], minor: 1) { index in
                var index = index
                if !root.isEmpty { index = String(index.dropLast()) + root + "}" }
                if !extraState.isEmpty { index = index.replacingOccurrences(of: "\"codec\":\"raw\",\"stored_length\":2,", with: "\(extraState.dropFirst()),\"codec\":\"raw\",\"stored_length\":2,") }
                return index
            }
        }
        add("index-depth-8-root", true, newer(root: ",\"x\":\(nested(7))"))
        add("index-depth-9-root", false, newer(root: ",\"x\":\(nested(8))"))
        add("index-depth-8-state", true, newer(state: ",\"x\":\(nested(6))"))
        add("index-depth-9-state", false, newer(state: ",\"x\":\(nested(7))"))
        add("index-depth-8-blob", true, newer(blob: ",\"x\":\(nested(5))"))
        add("index-depth-9-blob", false, newer(blob: ",\"x\":\(nested(6))"))
        add("index-duplicate-key", false, buildFile(blobs: [(rawMembers("a", bytes: data) + ",\"name\":\"b\"", data)]))
        add("index-lone-surrogate", false, buildFile(blobs: [(rawMembers("a", bytes: data).replacingOccurrences(of: "\"name\":\"a\"", with: "\"name\":\"\\ud800\""), data)]))
        add("index-bom", false, buildFile(blobs: [(rawMembers("a", bytes: data), data)]) { "\u{FEFF}" + $0 })

        // Lengths (§7.3.4): at most 2^40 for every region; zero blobs hashed in bounded memory.
        add("zero-1PiB", false, buildFile(blobs: [(zeroMembers("z", length: 1 << 50, checksum: 0), [])]))
        add("zero-2^40+1", false, buildFile(blobs: [(zeroMembers("z", length: (1 << 40) + 1, checksum: 0), [])]))
        let tooLong = (1 << 40) + 1
        add("raw-2^40+1", false, buildFile(blobs: [("\"name\":\"a\",\"dtype\":\"u8\",\"shape\":[\(tooLong)],\"filter\":\"none\",\"codec\":\"raw\",\"stored_length\":\(tooLong),\"length\":\(tooLong),\"xxh3\":\"0000000000000000\"", data)]))
        add("zero-4GiB", true, buildFile(blobs: [(zeroMembers("z", length: 1 << 32), [])]))
        add("zero-4GiB-wrong-xxh3", false, buildFile(blobs: [(zeroMembers("z", length: 1 << 32, checksum: 0x0123_4567_89AB_CDEF), [])]))
        add("zero-many-lengths", true, buildFile(blobs: (1...200).map { (zeroMembers("z\($0)", length: $0 * 4099), []) }))

        // Element count (§7.3.7): exact product of the dimensions × element size = length.
        let huge = 1 << 30
        add("shape-zero-product", true, buildFile(blobs: [(zeroMembers("z", length: 0, shape: "[\(huge),\(huge),\(huge),0]").replacingOccurrences(of: "\"codec\":\"zero\"", with: "\"codec\":\"raw\""), [])]))
        add("shape-zero-product-dim-2^53-1", true, buildFile(blobs: [(zeroMembers("z", length: 0, shape: "[0,\(MMOLimits.maxInteger)]").replacingOccurrences(of: "\"codec\":\"zero\"", with: "\"codec\":\"raw\""), [])]))
        add("shape-zero-product-dim-2^53", false, buildFile(blobs: [(zeroMembers("z", length: 0, shape: "[0,\(MMOLimits.maxInteger + 1)]").replacingOccurrences(of: "\"codec\":\"zero\"", with: "\"codec\":\"raw\""), [])]))
        add("shape-huge-product", false, buildFile(blobs: [(zeroMembers("z", length: 0, shape: "[\(huge),\(huge),\(huge),1]").replacingOccurrences(of: "\"codec\":\"zero\"", with: "\"codec\":\"raw\""), [])]))
        add("shape-product-wraps-2^64", false, buildFile(blobs: [(zeroMembers("z", length: 8, shape: "[\(1 << 32),\(1 << 32),8]"), [])]))

        // zstd frame headers (§4).
        func frame(_ name: String, _ accept: Bool, _ edit: (inout CraftedFrame) -> Void) {
            var f = CraftedFrame()
            edit(&f)
            add("zstd-" + name, accept, buildFile(blobs: [f.members("z")]))
        }
        frame("plain", true) { _ in }
        frame("dictionary-id-field-zero", true) { $0.dictionaryID = (4, 0) }
        frame("dictionary-id-1-byte", false) { $0.dictionaryID = (1, 7) }
        frame("dictionary-id-4-byte", false) { $0.dictionaryID = (4, 0x1234_5678) }
        frame("content-checksum", true) { $0.checksum = (true, true) }
        frame("content-checksum-wrong", false) { $0.checksum = (true, false) }
        frame("no-content-size", false) { $0.declaresContentSize = false; $0.singleSegment = false; $0.windowDescriptor = 0 }
        frame("reserved-bit", false) { $0.reservedBit = true }
        frame("window-2^27", true) { $0.singleSegment = false; $0.windowDescriptor = 17 << 3 }
        frame("window-2^27+2^24", false) { $0.singleSegment = false; $0.windowDescriptor = 17 << 3 | 1 }
        frame("window-2^28", false) { $0.singleSegment = false; $0.windowDescriptor = 18 << 3 }
        frame("single-segment-2^27", true) { $0.zeroCount = 1 << 27 }
        frame("single-segment-2^27+1", false) { $0.zeroCount = (1 << 27) + 1 }
        let skippable: [UInt8] = [0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]
        let empty = [UInt8]()
        add("zstd-skippable-frame", false, buildFile(blobs: [(zstdMembers("z", raw: empty, frame: skippable), skippable)]))
        let real = CraftedFrame().bytes()
        let trailing = real + skippable
        add("zstd-frame-then-skippable", false, buildFile(blobs: [(zstdMembers("z", raw: CraftedFrame().content, frame: trailing), trailing)]))
        return cases
    }

    /// Open + verify + the strict state document: what "the Swift reader accepts" means here.
    func swiftError(_ url: URL) -> MMOFormatError? {
        do {
            let reader = try MMOReader.open(url)
            try reader.verify(threads: 1)
            _ = try reader.stateDocument()
            return nil
        } catch let error as MMOFormatError {
            return error
        } catch {
            return MMOFormatError(.invalidArgument, file: url.path, location: "test", reason: "not an MMOFormatError: \(error)")
        }
    }

    func testSwiftAndPythonReadersAgreeOnEveryEdgeCase() throws {
        let folder = try temporaryFolder(self)
        let cases = cases()
        var paths: [String] = []
        for c in cases {
            let url = folder.appendingPathComponent(c.name + ".mmo")
            try Data(c.bytes).write(to: url)
            paths.append(url.path)
        }
        var swift: [String: MMOFormatError?] = [:]
        for (c, path) in zip(cases, paths) {
            let error = swiftError(URL(fileURLWithPath: path))
            swift[c.name] = error
            XCTAssertEqual(error == nil, c.accept, "Swift on \(c.name): \(error.map { "\($0)" } ?? "accepted")")
            if let error { XCTAssertTrue(error.description.hasPrefix(path), "the error names the file: \(error)") }
        }
        guard let output = runPython(["Formats/python/mmo.py", "check"] + paths) else { return }
        struct Verdict: Decodable {
            var path: String
            var ok: Bool
            var kind: String?
            var error: String?
        }
        let verdicts = try String(decoding: output, as: UTF8.self).split(separator: "\n").map { try JSONDecoder().decode(Verdict.self, from: Data($0.utf8)) }
        XCTAssertEqual(verdicts.map(\.path), paths)
        for (c, verdict) in zip(cases, verdicts) {
            XCTAssertEqual(verdict.ok, c.accept, "Python on \(c.name): \(verdict.error ?? "accepted")")
            XCTAssertEqual(verdict.ok, swift[c.name]! == nil, "Swift and Python disagree on \(c.name): Swift \(swift[c.name]!.map { "\($0)" } ?? "accepts"), Python \(verdict.error ?? "accepts")")
        }
    }

    /// The brief's first rule: `stateDocument(as:)` refuses what the strict reader refuses,
    /// naming the file and the byte offset, instead of keeping one of two duplicate keys.
    func testStateDocumentAsIsStrict() throws {
        let folder = try temporaryFolder(self)
        let documents: [(String, [UInt8], Int)] = [
            ("duplicate", Array(#"{"a":1,"b":2,"a":3}"#.utf8), 13),
            ("bom", [0xEF, 0xBB, 0xBF] + Array("{}".utf8), 0),
            ("surrogate", Array(#"{"a":"\ud800"}"#.utf8), 6),
        ]
        for (name, document, offset) in documents {
            let url = folder.appendingPathComponent(name + ".mmo")
            try Data(buildFile(state: document)).write(to: url)
            let reader = try MMOReader.open(url)
            for error in [assertFormatError(try reader.stateDocument(as: AnyObject.self), kind: .invalidStateDocument),
                          assertFormatError(try reader.stateDocument(), kind: .invalidStateDocument),
                          assertFormatError(try reader.verify(), kind: .invalidStateDocument)] {
                guard let error else { continue }
                XCTAssertEqual(error.file, url.path)
                XCTAssertEqual(error.location, "state document")
                XCTAssertTrue(error.reason.contains("at byte \(offset) "), "\(name): \(error.reason)")
            }
        }
    }

    /// A 4 GiB zero blob verifies without allocating it (the old reader zero-filled a 4 GiB
    /// buffer to hash it), and 200 zero blobs cost one pass, not 200.
    func testZeroBlobsVerifyInBoundedMemory() throws {
        let url = try temporaryFolder(self).appendingPathComponent("zeros.mmo")
        let lengths = [1 << 32, (1 << 32) - 1, 1 << 31, 3, 0]
        try Data(buildFile(blobs: lengths.enumerated().map { (zeroMembers("z\($0.offset)", length: $0.element), []) })).write(to: url)
        XCTAssertEqual(ZeroHash.of(8), 0xC77B_3ABB_6F87_ACD9, "spec §12: XXH3-64 of 8 zero bytes")
        XCTAssertEqual(ZeroHash.of(0), 0x2D06_8005_38D3_94C2, "spec §1: XXH3-64 of the empty string")
        let buffer = [UInt8](repeating: 0, count: 300_000)
        for n in [1, 16, 17, 128, 129, 240, 241, 1024, 65535, 65536, 65537, 300_000] {
            XCTAssertEqual(ZeroHash.of(n), buffer.withUnsafeBytes { XXH3_64bits($0.baseAddress, n) }, "\(n) zeros")
        }
        var before = rusage()
        getrusage(RUSAGE_SELF.rawValue, &before)
        let start = Date()
        let report = try MMOReader.open(url).verify(threads: 1)
        let seconds = Date().timeIntervalSince(start)
        var after = rusage()
        getrusage(RUSAGE_SELF.rawValue, &after)
        XCTAssertEqual(report.rawBytes, 2 + lengths.reduce(0, +))
        let grownMiB = (after.ru_maxrss - before.ru_maxrss) / 1024  // ru_maxrss is in KiB on Linux
        XCTAssertLessThan(grownMiB, 64, "peak memory grew by \(grownMiB) MiB while verifying 12 GiB of zero blobs")
        print("verify of 4 zero blobs up to 4 GiB: \(String(format: "%.2f", seconds)) s (\(String(format: "%.1f", Double(1 << 32) / seconds / 1e9)) GB/s of zeros hashed)")
    }
}
