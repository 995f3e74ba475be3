// The byte transforms of spec §4–§5: XXH3-64 checksums, the shuffle filter (byte planes) and
// its inverse, one-frame zstd compression and strict one-frame decompression.

import CXXHash
import CZstd

/// XXH3-64 with seed 0 of `bytes` (the checksum of spec §4.3).
@inline(__always) func xxh3(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    XXH3_64bits(bytes.baseAddress, bytes.count)
}

/// Whether every byte of `bytes` is zero (word-wise; returns at the first non-zero word).
func isAllZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    let words = bytes.count / 8
    var i = 0
    // Unrolled by 8 words: or-reduce a cache line, then test once.
    while i + 8 <= words {
        var acc: UInt64 = 0
        for k in 0..<8 { acc |= base.loadUnaligned(fromByteOffset: (i + k) * 8, as: UInt64.self) }
        if acc != 0 { return false }
        i += 8
    }
    while i < words {
        if base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) != 0 { return false }
        i += 1
    }
    for j in (words * 8)..<bytes.count where bytes[j] != 0 { return false }
    return true
}

// MARK: - Shuffle (byte planes)

/// Writes the byte planes of `source` (n elements of `elementSize` bytes) to `destination`:
/// `destination[k·n + i] = source[i·elementSize + k]`.
func shuffleBytes(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, elementSize s: Int) {
    precondition(source.count == destination.count && source.count % s == 0)
    let n = source.count / s
    guard n > 0, let src = source.baseAddress, let dst = destination.baseAddress else { return }
    let out = dst.assumingMemoryBound(to: UInt8.self)
    switch s {
    case 4:
        // 16 elements at a time: one 64-byte load, four 16-byte stores (vector truncations).
        var i = 0
        while i + 16 <= n {
            let v = src.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<UInt32>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v), as: SIMD16<UInt8>.self)
            UnsafeMutableRawPointer(out + n + i).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> 8), as: SIMD16<UInt8>.self)
            UnsafeMutableRawPointer(out + 2 * n + i).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> 16), as: SIMD16<UInt8>.self)
            UnsafeMutableRawPointer(out + 3 * n + i).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> 24), as: SIMD16<UInt8>.self)
            i += 16
        }
        while i < n {
            let v = src.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
            out[i] = UInt8(truncatingIfNeeded: v)
            out[n + i] = UInt8(truncatingIfNeeded: v >> 8)
            out[2 * n + i] = UInt8(truncatingIfNeeded: v >> 16)
            out[3 * n + i] = UInt8(truncatingIfNeeded: v >> 24)
            i += 1
        }
    case 2:
        for i in 0..<n {
            let v = src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
            out[i] = UInt8(truncatingIfNeeded: v)
            out[n + i] = UInt8(truncatingIfNeeded: v >> 8)
        }
    default:
        let inp = src.assumingMemoryBound(to: UInt8.self)
        for k in 0..<s {
            let plane = out + k * n
            for i in 0..<n { plane[i] = inp[i * s + k] }
        }
    }
}

/// The inverse of `shuffleBytes`: `destination[i·elementSize + k] = source[k·n + i]`.
func unshuffleBytes(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, elementSize s: Int) {
    precondition(source.count == destination.count && source.count % s == 0)
    let n = source.count / s
    guard n > 0, let src = source.baseAddress, let dst = destination.baseAddress else { return }
    let inp = src.assumingMemoryBound(to: UInt8.self)
    switch s {
    case 4:
        // The scalar form vectorises well (measured faster than explicit SIMD16 here).
        let p0 = inp, p1 = inp + n, p2 = inp + 2 * n, p3 = inp + 3 * n
        for i in 0..<n {
            let v = UInt32(p0[i]) | UInt32(p1[i]) << 8 | UInt32(p2[i]) << 16 | UInt32(p3[i]) << 24
            dst.storeBytes(of: v, toByteOffset: i * 4, as: UInt32.self)
        }
    case 2:
        let p0 = inp, p1 = inp + n
        for i in 0..<n {
            dst.storeBytes(of: UInt16(p0[i]) | UInt16(p1[i]) << 8, toByteOffset: i * 2, as: UInt16.self)
        }
    default:
        let out = dst.assumingMemoryBound(to: UInt8.self)
        for k in 0..<s {
            let plane = inp + k * n
            for i in 0..<n { out[i * s + k] = plane[i] }
        }
    }
}

// MARK: - zstd

/// A reusable zstd compression context (one per worker thread; not thread-safe).
final class ZstdCompressor {
    private let context: OpaquePointer

    init() {
        guard let c = ZSTD_createCCtx() else { preconditionFailure("ZSTD_createCCtx failed: out of memory") }
        context = c
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Worst-case compressed size of `count` bytes.
    static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Sets the level and, if given, the hash-table size for the next frame.
    private func configure(level: Int32, hashLog: Int32?) {
        ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters)
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        if let hashLog { ZSTD_CCtx_setParameter(context, ZSTD_c_hashLog, hashLog) }
    }

    /// Compresses `source` as one frame (content size recorded, no zstd checksum) into
    /// `destination`, which must hold `bound(source.count)` bytes; returns the frame length.
    func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, level: Int32, hashLog: Int32? = nil) -> Int {
        configure(level: level, hashLog: hashLog)
        let n = ZSTD_compress2(context, destination.baseAddress, destination.count, source.baseAddress, source.count)
        // With a bound-sized destination, zstd fails only on allocation failure: a bug-level event.
        precondition(ZSTD_isError(n) == 0, "zstd compression failed: \(String(cString: ZSTD_getErrorName(n)))")
        return n
    }

    /// Compresses `source`, made of `planes` equal byte planes, as one frame in which every plane
    /// starts a new zstd block. Each block has its own Huffman table, so the sign/exponent plane
    /// is coded with its own statistics instead of a mixture with the near-random mantissa planes
    /// (one-shot compression puts a whole small blob in one block and gains nothing from
    /// shuffling). Returns nil if `destination` is too small.
    func compress(
        planes source: UnsafeRawBufferPointer, count planes: Int, into destination: UnsafeMutableRawBufferPointer, level: Int32,
        hashLog: Int32? = nil
    ) -> Int? {
        precondition(planes >= 1 && source.count % planes == 0)
        configure(level: level, hashLog: hashLog)
        ZSTD_CCtx_setPledgedSrcSize(context, UInt64(source.count))
        let planeSize = source.count / planes
        var output = ZSTD_outBuffer(dst: destination.baseAddress, size: destination.count, pos: 0)
        for k in 0..<planes {
            var input = ZSTD_inBuffer(src: source.baseAddress.map { $0 + k * planeSize }, size: planeSize, pos: 0)
            let mode = k == planes - 1 ? ZSTD_e_end : ZSTD_e_flush
            while true {
                let remaining = ZSTD_compressStream2(context, &output, &input, mode)
                precondition(ZSTD_isError(remaining) == 0, "zstd compression failed: \(String(cString: ZSTD_getErrorName(remaining)))")
                if remaining == 0 && input.pos == input.size { break }
                if output.pos == output.size { return nil }
            }
        }
        return output.pos
    }
}

/// A reusable zstd decompression context (not thread-safe).
final class ZstdDecompressor {
    private let context: OpaquePointer

    init() {
        guard let c = ZSTD_createDCtx() else { preconditionFailure("ZSTD_createDCtx failed: out of memory") }
        context = c
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decodes `frame`, which must be exactly one zstd frame declaring a content size equal to
    /// `destination.count`; returns a reason on failure.
    func decompress(_ frame: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> String? {
        let frameSize = ZSTD_findFrameCompressedSize(frame.baseAddress, frame.count)
        if ZSTD_isError(frameSize) != 0 { return "not a zstd frame (\(String(cString: ZSTD_getErrorName(frameSize))))" }
        if frameSize != frame.count { return "stored bytes hold \(frame.count - frameSize) bytes after the zstd frame" }
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        // ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR are the two largest UInt64 values.
        if declared >= UInt64.max - 1 { return "the zstd frame does not declare its content size" }
        if declared != UInt64(destination.count) { return "the zstd frame declares \(declared) bytes, the index \(destination.count)" }
        let n = ZSTD_decompressDCtx(context, destination.baseAddress, destination.count, frame.baseAddress, frame.count)
        if ZSTD_isError(n) != 0 { return "zstd: \(String(cString: ZSTD_getErrorName(n)))" }
        if n != destination.count { return "zstd produced \(n) bytes instead of \(destination.count)" }
        return nil
    }
}

// MARK: - zstd frame header (spec §4)

/// The fields of a zstd frame header (RFC 8878 §3.1.1) that spec §4 constrains, parsed here
/// rather than by libzstd so that the rules are exactly the spec's: libzstd's one-shot decoder
/// ignores its window limit, accepts skippable and (if built so) legacy frames, and reports a
/// missing dictionary only as a generic error.
struct ZstdFrameHeader: Equatable {
    /// Frame_Content_Size, if the header declares it.
    var contentSize: UInt64?
    /// Window_Size: from the Window_Descriptor, or the content size for a single-segment frame.
    var windowSize: UInt64
    /// Dictionary_ID (0 when the field is absent).
    var dictionaryID: UInt32
    /// Whether the frame ends with a content checksum (which the decoder then checks).
    var hasContentChecksum: Bool

    /// Parses the header at the start of `frame`; returns a reason on failure.
    static func parse(_ frame: UnsafeRawBufferPointer) -> Result<ZstdFrameHeader, FrameHeaderError> {
        func fail(_ reason: String) -> Result<ZstdFrameHeader, FrameHeaderError> { .failure(FrameHeaderError(reason: reason)) }
        guard frame.count >= 5 else { return fail("\(frame.count) bytes are too short for a zstd frame header") }
        let magic = frame.loadUnaligned(as: UInt32.self)
        guard magic == 0xFD2F_B528 else {
            if magic & 0xFFFF_FFF0 == 0x184D_2A50 { return fail("a skippable frame is not allowed; the region must be one zstd frame") }
            return fail("not a zstd frame (magic \(String(magic, radix: 16)))")
        }
        let descriptor = frame[4]
        let fcsFlag = Int(descriptor >> 6), singleSegment = descriptor & 0x20 != 0
        let checksum = descriptor & 0x04 != 0, didFlag = Int(descriptor & 0x03)
        guard descriptor & 0x08 == 0 else { return fail("the reserved bit of the zstd frame header is set") }
        var position = 5
        var windowDescriptor: UInt8?
        if !singleSegment {
            guard position < frame.count else { return fail("the zstd frame header is truncated") }
            windowDescriptor = frame[position]
            position += 1
        }
        let didSize = [0, 1, 2, 4][didFlag]
        let fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]
        guard position + didSize + fcsSize <= frame.count else { return fail("the zstd frame header is truncated") }
        func little(_ at: Int, _ count: Int) -> UInt64 {
            (0..<count).reduce(UInt64(0)) { $0 | UInt64(frame[at + $1]) << (8 * $1) }
        }
        let dictionaryID = UInt32(little(position, didSize))
        position += didSize
        var contentSize: UInt64?
        if fcsSize > 0 { contentSize = little(position, fcsSize) + (fcsSize == 2 ? 256 : 0) }
        let windowSize: UInt64
        if let wd = windowDescriptor {
            let base = UInt64(1) << (10 + UInt64(wd >> 3))
            windowSize = base + (base / 8) * UInt64(wd & 7)
        } else {
            windowSize = contentSize ?? 0  // single segment: FCS is always present
        }
        return .success(ZstdFrameHeader(contentSize: contentSize, windowSize: windowSize, dictionaryID: dictionaryID, hasContentChecksum: checksum))
    }

    /// Checks the header of `frame` against spec §4 for a region of `length` raw bytes; returns
    /// a reason on failure. Cheap (a few bytes), so readers run it before allocating anything.
    static func check(_ frame: UnsafeRawBufferPointer, length: Int) -> String? {
        let header: ZstdFrameHeader
        switch parse(frame) {
        case .failure(let e): return e.reason
        case .success(let h): header = h
        }
        guard let declared = header.contentSize else { return "the zstd frame does not declare its content size" }
        guard declared == UInt64(length) else { return "the zstd frame declares \(declared) bytes, the index \(length)" }
        guard header.dictionaryID == 0 else { return "the zstd frame needs dictionary \(header.dictionaryID); dictionaries are not allowed" }
        guard header.windowSize <= UInt64(MMOLimits.maxZstdWindow) else {
            return "the zstd frame needs a window of \(header.windowSize) bytes, more than the limit of 2^27"
        }
        return nil
    }
}

/// Why a zstd frame header was refused.
struct FrameHeaderError: Error {
    var reason: String
}

// MARK: - XXH3-64 of zero bytes (spec §4, codec `zero`)

/// XXH3-64 of runs of zero bytes, in constant memory: zeros are streamed through one XXH3 state
/// from a fixed buffer, and the digest is taken at each requested length in increasing order
/// (taking a digest does not disturb the state). Hashing the zero blobs of a whole file thus
/// costs the largest length once (≤ 2^40 bytes, spec §11), however many blobs there are.
enum ZeroHash {
    /// Zeros hashed per update: large enough to run XXH3 at full speed, small enough for L2.
    private static let chunk = 1 << 16
    private static let zeros: UnsafeRawBufferPointer = {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        return UnsafeRawBufferPointer(buffer)  // lives for the whole process
    }()

    /// XXH3-64 of `n` zero bytes.
    static func of(_ n: Int) -> UInt64 { of(lengths: [n])[n]! }

    /// XXH3-64 of `n` zero bytes for every `n` in `lengths`.
    static func of(lengths: some Collection<Int>) -> [Int: UInt64] {
        var result: [Int: UInt64] = [:]
        guard let state = XXH3_createState() else { preconditionFailure("XXH3_createState failed: out of memory") }
        defer { XXH3_freeState(state) }
        XXH3_64bits_reset(state)
        var hashed = 0
        // The streaming digest equals the one-shot XXH3-64 for every length (xxHash's contract).
        for n in Set(lengths).sorted() {
            while hashed < n {
                let step = min(chunk, n - hashed)
                XXH3_64bits_update(state, zeros.baseAddress, step)
                hashed += step
            }
            result[n] = XXH3_64bits_digest(state)
        }
        return result
    }
}
