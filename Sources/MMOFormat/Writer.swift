// Writes an .mmo file: blobs are checksummed, shuffled and zstd-compressed in parallel while
// earlier ones are written, laid out canonically (spec §6), and committed atomically (spec §8).
// The same content and options give the same bytes whatever the thread count.

import Dispatch
import Foundation

/// How the writer encodes blobs.
public struct MMOWriteOptions: Sendable {
    /// zstd level chosen by measurement on the `small` joint state (Formats/mmo-v1.md §13,
    /// `mmo-bench format --levels`): with `planeHashLog` 6, level 1 gives the smallest file of
    /// levels −5…9 (161.8 MB of 193.8) and the fastest save of the levels that compress at all.
    public static let defaultCompressionLevel: Int32 = 1

    /// zstd compression level (negative levels are zstd's fast modes).
    public var compressionLevel: Int32 = MMOWriteOptions.defaultCompressionLevel
    /// zstd hash-table size (log2 entries) for shuffled byte planes. Planes of float data are
    /// near-independent bytes: back-references barely pay and cost time, so a 64-entry table
    /// (6, zstd's minimum) leaves almost pure Huffman coding, measured ~2× faster *and* ~1%
    /// smaller than level 1's own table (Formats/mmo-v1.md §13). nil keeps the level's default.
    public var planeHashLog: Int32? = 6
    /// When false every blob is stored raw (all-zero blobs still use the `zero` codec).
    public var compress = true
    /// Worker threads for checksums, shuffling and compression.
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// A compressed blob is kept only if it is at least this fraction smaller than raw; otherwise
    /// raw storage (zero-copy, fastest to read) wins.
    public var minimumSaving = 0.02

    /// Default options: all cores, level `defaultCompressionLevel`.
    public init() {}
}

/// What `MMOWriter.write(to:)` produced.
public struct MMOWriteReport: Sendable {
    /// The file written.
    public var url: URL
    /// Its length in bytes.
    public var fileLength: Int
    /// Raw bytes of all blobs plus the state document.
    public var rawBytes: Int
    /// Stored bytes of all regions (without header, padding and index).
    public var storedBytes: Int
    /// Number of blobs per codec.
    public var codecCounts: [MMOCodec: Int]
    /// The file's content hash (header XXH3-64), the identity recorded as lineage by children.
    public var contentHash: UInt64
    /// `contentHash` as 16 lowercase hex digits.
    public var contentHashHex: String { hex16(contentHash) }
    /// Seconds from the start until every byte was written (encoding and writing overlap).
    public var writeSeconds: Double
    /// Seconds spent in fsync of the file and the folder.
    public var syncSeconds: Double
}

/// Collects named arrays and a JSON state document, then writes them as one .mmo file.
public struct MMOWriter {
    private enum Source {
        case data(Data)
        case floats([Float])
        /// Caller-owned memory that must stay valid until `write(to:)` returns.
        case borrowed(UnsafeRawBufferPointer)

        func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            switch self {
            case .data(let d): return try d.withUnsafeBytes(body)
            case .floats(let f): return try f.withUnsafeBytes(body)
            case .borrowed(let p): return try body(p)
            }
        }
    }

    private struct Pending {
        var name: String
        var dtype: MMODType
        var shape: [Int]
        var hint: MMOStorageHint
        var source: Source
    }

    /// Encoding options.
    public var options: MMOWriteOptions
    private var pending: [Pending] = []
    private var names = Set<String>()
    private var state = Data("{}".utf8)

    /// An empty writer; the state document defaults to `{}`.
    public init(options: MMOWriteOptions = MMOWriteOptions()) {
        self.options = options
    }

    /// Names of the blobs added so far, in file order.
    public var blobNames: [String] { pending.map(\.name) }

    private static func argumentError(_ location: String, _ reason: String) -> MMOFormatError {
        MMOFormatError(.invalidArgument, file: "MMOWriter", location: location, reason: reason)
    }

    /// Sets the state document: UTF-8 JSON whose top level is an object (spec §9).
    public mutating func setStateDocument(_ json: Data) throws {
        try json.withUnsafeBytes { bytes in
            do {
                // The same check every reader applies (spec §9), so a written file always reads.
                try JSONScanner.validateObject(bytes, maxDepth: MMOStateDocument.maxDepth)
            } catch let e as JSONParseError {
                throw MMOWriter.argumentError("state document", "invalid JSON at byte \(e.offset): \(e.message)")
            }
        }
        state = json
    }

    /// Adds a blob whose bytes are copied (`Data` is copy-on-write, so this is usually free).
    public mutating func add(
        _ name: String, dtype: MMODType, shape: [Int], bytes: Data, hint: MMOStorageHint = .automatic
    ) throws {
        try append(Pending(name: name, dtype: dtype, shape: shape, hint: hint, source: .data(bytes)), byteCount: bytes.count)
    }

    /// Adds an `f32` blob.
    public mutating func add(_ name: String, shape: [Int], floats: [Float], hint: MMOStorageHint = .automatic) throws {
        try append(
            Pending(name: name, dtype: .f32, shape: shape, hint: hint, source: .floats(floats)),
            byteCount: floats.count * 4)
    }

    /// Adds a blob without copying: `bytes` must stay valid and unchanged until `write(to:)`
    /// returns (the trainer's flat parameter and moment buffers are used this way).
    public mutating func add(
        _ name: String, dtype: MMODType, shape: [Int], unsafeBytes bytes: UnsafeRawBufferPointer,
        hint: MMOStorageHint = .automatic
    ) throws {
        try append(Pending(name: name, dtype: dtype, shape: shape, hint: hint, source: .borrowed(bytes)), byteCount: bytes.count)
    }

    private mutating func append(_ blob: Pending, byteCount: Int) throws {
        let at = "blob \"\(blob.name)\""
        guard MMOLimits.isValidBlobName(blob.name) else {
            throw MMOWriter.argumentError(at, "names are 1…\(MMOLimits.maxNameLength) bytes of printable ASCII without spaces")
        }
        guard !names.contains(blob.name) else { throw MMOWriter.argumentError(at, "a blob of this name was already added") }
        guard blob.shape.count <= MMOLimits.maxRank, blob.shape.allSatisfy({ $0 >= 0 && $0 <= MMOLimits.maxInteger }) else {
            throw MMOWriter.argumentError(at, "shape \(blob.shape) must have at most \(MMOLimits.maxRank) dimensions of 0…2^53-1")
        }
        guard byteCount <= MMOLimits.maxRegionLength else {
            throw MMOWriter.argumentError(at, "\(byteCount) bytes exceed the format's limit of 2^40 bytes per blob")
        }
        // The rule readers apply (spec §7.3.7): exact product of the dimensions × element size.
        guard let count = MMOLimits.elementCount(blob.shape), count <= byteCount, count * blob.dtype.size == byteCount else {
            throw MMOWriter.argumentError(at, "shape \(blob.shape) × \(blob.dtype.rawValue) (\(blob.dtype.size) bytes) does not describe \(byteCount) bytes")
        }
        names.insert(blob.name)
        pending.append(blob)
    }

    // MARK: - Writing

    /// Encodes every blob and atomically replaces `url` with the new file. On any error the
    /// target is untouched and the temporary file is removed.
    @discardableResult
    public func write(to url: URL) throws -> MMOWriteReport {
        let options = self.options
        let file = try AtomicFileWriter(target: url)
        var rawBytes = 0, storedBytes = 0
        var codecCounts: [MMOCodec: Int] = [:]
        var blobs: [MMOBlobInfo] = []
        blobs.reserveCapacity(pending.count)

        // Header placeholder; the real header is written last, once the index is known.
        try file.appendZeros(MMOLimits.headerSize)
        func place(_ encoded: EncodedRegion, source: Source) throws -> MMORegion {
            var region = encoded.region
            region.offset = file.position
            switch region.codec {
            case .raw: try source.withBytes { try file.append($0) }
            case .zstd: try file.append(encoded.compressedBytes)
            case .zero: break
            }
            try file.appendZeros(alignUp(file.position) - file.position)
            rawBytes += region.length
            storedBytes += region.storedLength
            return region
        }

        let clock = ContinuousClock()
        let started = clock.now
        let threads = max(1, options.threads)
        // Keep a few buffers beyond the blobs in flight, so that recycling rarely allocates.
        let window = 2 * threads + 2
        let pool = OutputBufferPool(keep: window + threads)
        func makeEncoder() -> RegionEncoder {
            RegionEncoder(options: options, pool: pool)
        }
        let stateEncoded = state.withUnsafeBytes { bytes in
            makeEncoder().encode(bytes, elementSize: 1, filter: .none, compress: options.compress, allowZeroCodec: false)
        }
        let stateRegion = try place(stateEncoded, source: .data(state))

        let pending = self.pending
        try runOrderedPipeline(
            count: pending.count, threads: threads, window: window,
            encode: { k, encoder in
                let item = pending[k]
                return item.source.withBytes { bytes in
                    encoder.encode(
                        bytes, elementSize: item.dtype.size, filter: filter(for: item),
                        compress: options.compress && item.hint != .raw, allowZeroCodec: item.hint != .raw)
                }
            },
            makeEncoder: makeEncoder,
            sink: { k, region in
                let blob = pending[k]
                let placed = try place(region, source: blob.source)
                codecCounts[placed.codec, default: 0] += 1
                blobs.append(MMOBlobInfo(name: blob.name, dtype: blob.dtype, shape: blob.shape, filter: region.filter, region: placed))
            })

        let index = MMOIndex(state: stateRegion, blobs: blobs).encoded()
        let indexOffset = file.position
        try index.withUnsafeBytes { try file.append($0) }
        let header = MMOHeader(
            fileLength: file.position, indexOffset: indexOffset, indexLength: index.count,
            indexChecksum: index.withUnsafeBytes { xxh3($0) })
        let headerBytes = header.encoded()
        try headerBytes.withUnsafeBytes { try file.write($0, at: 0) }
        let writeSeconds = (clock.now - started).seconds
        let syncStarted = clock.now
        try file.commit()
        let syncSeconds = (clock.now - syncStarted).seconds
        let contentHash = headerBytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 56, as: UInt64.self) }
        return MMOWriteReport(
            url: url, fileLength: header.fileLength, rawBytes: rawBytes, storedBytes: storedBytes, codecCounts: codecCounts,
            contentHash: UInt64(littleEndian: contentHash), writeSeconds: writeSeconds, syncSeconds: syncSeconds)
    }

    private func filter(for item: Pending) -> MMOFilter {
        guard item.dtype.size >= 2 else { return .none }
        switch item.hint {
        case .automatic: return item.dtype.isFloatingPoint ? .shuffle : .none
        case .shuffle: return .shuffle
        case .noShuffle, .raw: return .none
        }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
