// libFuzzer entry point for the .mmo parsers, compiled together with Sources/MMOFormat/*.swift
// into one module by Formats/fuzz/fuzz-format (so internal API is reachable without a package
// target; `swift build` and `swift test` never see this file).
//
// The first input byte selects what is fuzzed, the rest is the input:
//   0  the strict JSON scanner as the state document uses it; the tree parser and the
//      validator must agree (a disagreement traps)
//   1  the index decoder (syntax, semantics, layout) on the bytes as an index
//   2  a whole file whose header and index checksums are repaired first, so that mutations
//      reach the index semantics, the layout, `verify` and the decoders
//   3  the zstd frame-header rules of spec §4, then libzstd on frames that pass them
// Every input must end in success or an MMOFormatError / JSONParseError; a crash, a sanitizer
// report, a timeout or an allocation beyond libFuzzer's limit is a finding.

import CXXHash
import Foundation

/// Blobs larger than this are not decoded by the harness (a valid file may hold blobs of up to
/// 2^40 bytes; reading those is not what is being fuzzed).
private let readLimit = 1 << 20

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    switch data[0] % 4 {
    case 0: fuzzStateDocument(input)
    case 1: fuzzIndex(input)
    case 2: fuzzFile(input)
    default: fuzzZstdFrame(input)
    }
    return 0
}

private func fuzzStateDocument(_ input: UnsafeRawBufferPointer) {
    let validated: Bool
    do {
        try JSONScanner.validateObject(input, maxDepth: MMOStateDocument.maxDepth)
        validated = true
    } catch {
        validated = false
    }
    var parsedObject = false
    if let value = try? JSONScanner.parse(input, maxDepth: MMOStateDocument.maxDepth), case .object = value { parsedObject = true }
    precondition(validated == parsedObject, "validateObject and parse disagree")
}

private func fuzzIndex(_ input: UnsafeRawBufferPointer) {
    guard input.count >= 2, input.count <= MMOLimits.maxIndexLength else { return }
    // An index placed far enough into a file that most offsets are in bounds.
    let offset = 1 << 20
    let header = MMOHeader(fileLength: offset + input.count, indexOffset: offset, indexLength: input.count, indexChecksum: 0)
    for strict in [true, false] {
        _ = try? MMOIndexDecoder(path: "fuzz", strictKeys: strict).decode(input, header: header)
    }
}

private func fuzzFile(_ input: UnsafeRawBufferPointer) {
    var bytes = [UInt8](input)
    if bytes.count >= 64 {
        func u64(_ at: Int) -> UInt64 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self) } }
        func put(_ value: UInt64, _ at: Int) { withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(at..<(at + 8), with: $0) } }
        let indexOffset = u64(24), indexLength = u64(32)
        if indexOffset <= UInt64(bytes.count), indexLength <= UInt64(bytes.count) - indexOffset {
            let start = Int(indexOffset), end = Int(indexOffset + indexLength)
            put(bytes.withUnsafeBytes { xxh3(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }, 40)
        }
        put(bytes.withUnsafeBytes { xxh3(UnsafeRawBufferPointer(rebasing: $0[0..<56])) }, 56)
    }
    guard let reader = try? bytes.withUnsafeBytes({ try MMOReader.open(copying: $0, name: "fuzz.mmo") }) else { return }
    _ = try? reader.stateDocument()
    // Hashing a zero blob costs its length (up to 2^40 bytes by design, about a minute); the
    // harness keeps each run short instead.
    if reader.blobs.allSatisfy({ $0.codec != .zero || $0.length <= 64 << 20 }) {
        _ = try? reader.verify(threads: 1)
    }
    for blob in reader.blobs where blob.length <= readLimit {
        _ = try? reader.data(blob.name)
        _ = try? reader.withBytes(blob.name) { $0.count }
    }
}

private func fuzzZstdFrame(_ input: UnsafeRawBufferPointer) {
    guard case .success(let header) = ZstdFrameHeader.parse(input), let size = header.contentSize, size <= UInt64(readLimit) else { return }
    guard ZstdFrameHeader.check(input, length: Int(size)) == nil else { return }
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, Int(size)), alignment: 64)
    defer { out.deallocate() }
    _ = ZstdDecompressor().decompress(input, into: UnsafeMutableRawBufferPointer(rebasing: out[0..<Int(size)]))
}
