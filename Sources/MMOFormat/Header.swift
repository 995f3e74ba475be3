// The 64-byte file header (spec §2): encoding, and the strict checks a reader applies before it
// trusts any offset in it.

import CXXHash

/// The decoded header fields.
struct MMOHeader: Equatable {
    var majorVersion: UInt32 = MMOLimits.majorVersion
    var minorVersion: UInt32 = MMOLimits.minorVersion
    var fileLength: Int
    var indexOffset: Int
    var indexLength: Int
    var indexChecksum: UInt64
    /// XXH3-64 of header bytes 0..<56; it covers the index checksum, which covers every region
    /// checksum, so it identifies the whole content of the file.
    var headerChecksum: UInt64 = 0

    /// The 64 header bytes, with `headerChecksum` computed.
    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: MMOLimits.headerSize)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { raw in
                for i in 0..<raw.count { bytes[offset + i] = raw[i] }
            }
        }
        bytes.replaceSubrange(0..<8, with: MMOLimits.magic)
        put(majorVersion, at: 8)
        put(minorVersion, at: 12)
        put(UInt64(fileLength), at: 16)
        put(UInt64(indexOffset), at: 24)
        put(UInt64(indexLength), at: 32)
        put(indexChecksum, at: 40)
        // bytes 48..<56 reserved, zero
        let checksum = bytes.withUnsafeBytes { XXH3_64bits($0.baseAddress, 56) }
        put(checksum, at: 56)
        return bytes
    }

    /// Decodes and validates the header at the start of `file` (the whole mapped file), in the
    /// order of spec §7.1. `path` is only used in error messages.
    static func decode(_ file: UnsafeRawBufferPointer, path: String) throws -> MMOHeader {
        func error(_ kind: MMOFormatErrorKind, _ field: String, _ reason: String) -> MMOFormatError {
            MMOFormatError(kind, file: path, location: field, reason: reason)
        }
        guard file.count >= MMOLimits.headerSize else {
            if file.count >= 8, !file[0..<8].elementsEqual(MMOLimits.magic) {
                throw error(.notMMO, "header.magic", "not an .mmo file (wrong magic bytes)")
            }
            throw error(
                .truncated, "header",
                "file is \(file.count) bytes, smaller than the \(MMOLimits.headerSize)-byte header")
        }
        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: file.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: file.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }

        guard file[0..<8].elementsEqual(MMOLimits.magic) else {
            throw error(.notMMO, "header.magic", "not an .mmo file (wrong magic bytes)")
        }
        let major = u32(8)
        guard major == MMOLimits.majorVersion else {
            throw error(
                .unsupportedVersion, "header.major_version",
                "format version \(major).\(u32(12)) is not readable by this reader (it reads \(MMOLimits.majorVersion).x); use a newer MultiModelOptimizer"
            )
        }
        let stored = u64(56)
        let computed = XXH3_64bits(file.baseAddress, 56)
        guard stored == computed else {
            throw error(
                .checksumMismatch, "header.header_xxh3",
                "header checksum is \(hex16(stored)) but the header bytes hash to \(hex16(computed)); the header is damaged")
        }
        guard u64(48) == 0 else { throw error(.invalidHeader, "header.reserved", "reserved bytes 48..<56 are not zero") }

        // Every length is compared in UInt64 before conversion, so no value can overflow Int.
        let limit = UInt64(MMOLimits.maxInteger)
        let fileLength = u64(16), indexOffset = u64(24), indexLength = u64(32)
        guard fileLength <= limit else { throw error(.invalidHeader, "header.file_length", "value \(fileLength) exceeds 2^53-1") }
        if fileLength > UInt64(file.count) {
            throw error(.truncated, "header.file_length", "header says \(fileLength) bytes but the file has \(file.count); the file is truncated")
        }
        if fileLength < UInt64(file.count) {
            throw error(.trailingBytes, "header.file_length", "header says \(fileLength) bytes but the file has \(file.count); bytes follow the end of the checkpoint")
        }
        guard indexLength >= 2, indexLength <= UInt64(MMOLimits.maxIndexLength) else {
            throw error(.invalidHeader, "header.index_length", "index length \(indexLength) is outside 2…\(MMOLimits.maxIndexLength)")
        }
        guard indexOffset >= UInt64(MMOLimits.headerSize), indexOffset % UInt64(MMOLimits.alignment) == 0 else {
            throw error(.invalidHeader, "header.index_offset", "index offset \(indexOffset) is not a multiple of 64 at or after the header")
        }
        guard indexOffset <= fileLength, fileLength - indexOffset == indexLength else {
            throw error(.invalidLayout, "header.index_offset", "the index (\(indexOffset) + \(indexLength)) must end exactly at the end of the file (\(fileLength))")
        }
        return MMOHeader(
            majorVersion: major, minorVersion: u32(12), fileLength: Int(fileLength), indexOffset: Int(indexOffset),
            indexLength: Int(indexLength), indexChecksum: u64(40), headerChecksum: stored)
    }
}
