// Every failure of the .mmo reader and writer is an `MMOFormatError` that names the file, the
// place inside it (header field, index field or blob) and what is wrong.

/// What went wrong, coarsely, so that callers and tests can react without parsing messages.
public enum MMOFormatErrorKind: String, Sendable, Equatable {
    /// The operating system refused an operation (open, mmap, write, fsync, rename …).
    case io
    /// The file does not start with the .mmo magic bytes.
    case notMMO
    /// The major version is not one this reader implements.
    case unsupportedVersion
    /// The file is shorter than its header says, or shorter than a header.
    case truncated
    /// Bytes follow the last structure of the file.
    case trailingBytes
    /// A header field has an impossible value (reserved bits, offsets, lengths, caps).
    case invalidHeader
    /// The header or index checksum does not match.
    case checksumMismatch
    /// The index is not the JSON the specification requires (syntax, types, required keys).
    case malformedIndex
    /// A blob entry is inconsistent (dtype, shape × dtype ≠ length, codec/filter rules, names).
    case invalidBlob
    /// Regions are not laid out as the specification requires (offsets, alignment, overlap).
    case invalidLayout
    /// Stored bytes could not be decoded (zstd error, wrong decoded size, trailing frame data).
    case decodeFailed
    /// Padding between regions is not zero.
    case nonZeroPadding
    /// The state document is not a UTF-8 JSON object.
    case invalidStateDocument
    /// No blob of that name exists.
    case noSuchBlob
    /// The caller passed something the writer or reader cannot accept (a programming or usage
    /// error on the caller's side, not a damaged file).
    case invalidArgument
}

/// A typed error of the .mmo format layer. Its description reads
/// `<file>: <where>: <what is wrong>` so that a user knows which file and which part to look at.
public struct MMOFormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The class of failure.
    public var kind: MMOFormatErrorKind
    /// Path of the file concerned.
    public var file: String
    /// Where inside the file: a header field (`header.index_offset`), an index path
    /// (`index.blobs[3].shape`) or a blob (`blob "model/bert/…"`).
    public var location: String
    /// What is wrong, and when possible what to do about it.
    public var reason: String

    /// Creates an error; `location` names the field or blob.
    public init(_ kind: MMOFormatErrorKind, file: String, location: String, reason: String) {
        self.kind = kind
        self.file = file
        self.location = location
        self.reason = reason
    }

    /// `<file>: <location>: <reason>`.
    public var description: String { "\(file): \(location): \(reason)" }
}
