// The vocabulary of the .mmo container (Formats/mmo-v1.md §3–§5): element types, codecs,
// filters, the metadata of one stored blob, and the numeric limits a reader enforces.

#if _endian(big)
#error("MMOFormat maps little-endian file bytes directly onto memory; big-endian hosts are not supported")
#endif

/// Element type of a blob. The raw value is the spelling in the index (`"f32"` …); all
/// multi-byte types are little-endian in the file.
public enum MMODType: String, CaseIterable, Sendable, Codable {
    case f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8: return 1
        }
    }

    /// Whether this is a floating-point type (the writer shuffles these by default).
    public var isFloatingPoint: Bool { self == .f64 || self == .f32 || self == .f16 || self == .bf16 }
}

/// How a region's bytes are stored (spec §4).
public enum MMOCodec: String, CaseIterable, Sendable, Codable {
    /// Stored bytes are the raw bytes; such blobs can be viewed in place (zero copy).
    case raw
    /// Stored bytes are exactly one zstd frame that declares its content size.
    case zstd
    /// Nothing is stored: every raw byte is zero.
    case zero
}

/// A reversible byte transform applied before the codec (spec §5).
public enum MMOFilter: String, CaseIterable, Sendable, Codable {
    /// The bytes are passed to the codec as they are.
    case none
    /// Byte planes: byte `k` of element `i` moves to position `k·n + i` (n elements), which
    /// groups the slowly varying sign/exponent bytes of floats so that zstd can entropy-code them.
    case shuffle
}

/// What the caller asks of the writer for one blob; the writer still stores all-zero blobs with
/// the `zero` codec and keeps blobs raw when compression does not pay.
public enum MMOStorageHint: Sendable, Equatable {
    /// zstd if it saves at least `MMOWriteOptions.minimumSaving`, shuffled when the element is a
    /// multi-byte float.
    case automatic
    /// zstd (if it pays), shuffled whenever the element size is at least 2.
    case shuffle
    /// zstd (if it pays) without the shuffle filter.
    case noShuffle
    /// Never compressed, so that readers get a zero-copy view of the mapping.
    case raw
}

/// Where a region sits in the file and how it is encoded: the fields every index entry shares
/// (the state document and each blob).
public struct MMORegion: Sendable, Equatable {
    /// Codec of the stored bytes.
    public var codec: MMOCodec
    /// Absolute file offset of the stored bytes (64-byte aligned).
    public var offset: Int
    /// Number of stored bytes in the file.
    public var storedLength: Int
    /// Number of raw (decoded, unfiltered) bytes.
    public var length: Int
    /// XXH3-64 (seed 0) of the raw bytes.
    public var checksum: UInt64
    /// XXH3-64 (seed 0) of the stored bytes; present exactly when the codec is `zstd`.
    public var storedChecksum: UInt64?
}

/// Metadata of one stored array, as the index describes it.
public struct MMOBlobInfo: Sendable, Equatable {
    /// Unique name, printable ASCII without spaces, e.g. `model/bert/bert.pooler.dense.bias`.
    public var name: String
    /// Element type.
    public var dtype: MMODType
    /// Row-major shape; `[]` is a scalar.
    public var shape: [Int]
    /// Filter applied before the codec.
    public var filter: MMOFilter
    /// Location and encoding of the bytes.
    public var region: MMORegion

    /// Number of elements (product of the shape; 1 for a scalar). A shape with a zero dimension
    /// has no elements whatever its other dimensions (spec §7.3.7 allows `[2^30, 2^30, 2^30, 0]`),
    /// so the product is only formed when it is non-zero, and is then at most `length`.
    public var count: Int { MMOLimits.elementCount(shape) ?? 0 }
    /// Codec of the stored bytes.
    public var codec: MMOCodec { region.codec }
    /// Raw (decoded) byte length = count × dtype size.
    public var length: Int { region.length }
    /// Bytes the blob occupies in the file (without padding).
    public var storedLength: Int { region.storedLength }
    /// XXH3-64 of the raw bytes.
    public var checksum: UInt64 { region.checksum }
}

/// Fixed numbers of format version 1 (spec §2, §7).
public enum MMOLimits {
    /// Major version this library reads and writes.
    public static let majorVersion: UInt32 = 1
    /// Minor version this library writes; it reads every minor version of major 1.
    public static let minorVersion: UInt32 = 0
    /// Header size in bytes.
    public static let headerSize = 64
    /// Alignment of every region and of the index.
    public static let alignment = 64
    /// Largest index accepted, in bytes.
    public static let maxIndexLength = 64 << 20
    /// Largest number of dimensions of a blob.
    public static let maxRank = 8
    /// Longest blob name, in bytes.
    public static let maxNameLength = 1024
    /// Largest integer in the index (2⁵³ − 1, exact in every JSON implementation).
    public static let maxInteger = (1 << 53) - 1
    /// Largest raw `length` of any region, 2⁴⁰ bytes (1 TiB; spec §7.3.4, §11). Far above any
    /// array a training step holds in memory, and small enough that hashing the largest possible
    /// `zero` blob (which costs no stored bytes) takes bounded time.
    public static let maxRegionLength = 1 << 40
    /// Largest window a zstd frame may need (spec §4): zstd's default decoder limit.
    public static let maxZstdWindow = 1 << 27
    /// A zstd frame cannot expand by more than this factor (a 4-byte RLE block yields at most
    /// 128 KiB), so a larger claimed raw length is rejected before anything is allocated.
    public static let maxZstdExpansion = 32768
    /// The 8 magic bytes `89 4D 4D 4F 0D 0A 1A 0A` ("\x89MMO\r\n\x1a\n", PNG-style: detects
    /// text-mode transfers and 7-bit channels).
    public static let magic: [UInt8] = [0x89, 0x4D, 0x4D, 0x4F, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The exact product of `shape` (1 for `[]`, 0 if any dimension is 0), or nil if it exceeds
    /// `Int.max` or a dimension is negative. Exact arithmetic is the rule of spec §7.3.7: partial
    /// products may be huge when a later dimension is 0, so a left-to-right product with an
    /// overflow check would refuse a valid shape.
    public static func elementCount(_ shape: [Int]) -> Int? {
        guard shape.allSatisfy({ $0 >= 0 }) else { return nil }
        if shape.contains(0) { return 0 }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = p
        }
        return count
    }

    /// Whether `name` is a valid blob name: 1…1024 bytes of printable ASCII (0x21…0x7E).
    /// ASCII keeps byte equality and string equality the same in every language.
    public static func isValidBlobName(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= maxNameLength else { return false }
        return utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }
}

/// Rounds `x` up to the next multiple of the 64-byte alignment.
@inline(__always) func alignUp(_ x: Int) -> Int { (x + MMOLimits.alignment - 1) & ~(MMOLimits.alignment - 1) }

/// 16 lowercase hex digits of `value` (the spelling of checksums in the index).
func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
