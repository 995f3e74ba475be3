// Reads an .mmo file: `open` maps it and validates header and index completely (spec §7.1–§7.3)
// without touching blob bytes; blobs are decoded lazily, one at a time, and every decode checks
// the XXH3-64 of what it produced. Raw blobs can be viewed in place (zero copy).

import Foundation

/// An open, validated .mmo file. Thread-safe: all state is immutable after `open` except an
/// internal pool of decode workspaces, which is locked. The file stays mapped while the reader
/// lives; replacing the file (as `MMOWriter` does, by rename) does not disturb it, but another
/// program truncating it in place would (SIGBUS on access) — no writer of this library does.
public final class MMOReader: @unchecked Sendable {
    /// The file.
    public let url: URL
    /// Its length in bytes.
    public let fileLength: Int
    /// Major version of the format the file declares (always 1 for a file this reader opened).
    public let majorVersion: Int
    /// Minor version the file declares (a newer minor only adds optional index keys).
    public let minorVersion: Int
    /// The header checksum, which covers the index checksum, which covers every region's
    /// checksum: the identity of the file's content (spec §2; recorded as lineage, §9).
    public let contentHash: UInt64
    /// `contentHash` as the 16 lowercase hex digits the index and the state document use.
    public var contentHashHex: String { hex16(contentHash) }
    /// Every blob, in file order.
    public let blobs: [MMOBlobInfo]
    /// Where the state document is stored.
    public let stateRegion: MMORegion
    /// The mapped file.
    let file: MappedFile
    /// Offset and length of the index.
    let indexRange: Range<Int>
    private let positions: [String: Int]
    private let pool = WorkspacePool()

    /// Maps `url` and validates it; throws `MMOFormatError` for anything the spec forbids.
    public static func open(_ url: URL) throws -> MMOReader { try MMOReader(file: MappedFile(path: url.path), url: url) }

    /// Validates an in-memory copy of `bytes` as if it were the file `name` (fuzzing, tests).
    static func open(copying bytes: UnsafeRawBufferPointer, name: String) throws -> MMOReader {
        try MMOReader(file: MappedFile(copying: bytes), url: URL(fileURLWithPath: name))
    }

    private init(file: MappedFile, url: URL) throws {
        let path = url.path
        let header = try MMOHeader.decode(file.bytes, path: path)
        let index = UnsafeRawBufferPointer(rebasing: file.bytes[header.indexOffset..<header.fileLength])
        let indexChecksum = xxh3(index)
        guard indexChecksum == header.indexChecksum else {
            throw MMOFormatError(
                .checksumMismatch, file: path, location: "index",
                reason: "the index hashes to \(hex16(indexChecksum)) but the header records \(hex16(header.indexChecksum)); the index is damaged")
        }
        let decoder = MMOIndexDecoder(path: path, strictKeys: header.minorVersion <= MMOLimits.minorVersion)
        let decoded = try decoder.decode(index, header: header)
        self.url = url
        self.file = file
        self.fileLength = header.fileLength
        self.majorVersion = Int(header.majorVersion)
        self.minorVersion = Int(header.minorVersion)
        self.contentHash = header.headerChecksum
        self.blobs = decoded.blobs
        self.stateRegion = decoded.state
        self.indexRange = header.indexOffset..<header.fileLength
        self.positions = decoded.positions
    }

    /// The blob called `name`, if any.
    public func blob(named name: String) -> MMOBlobInfo? { positions[name].map { blobs[$0] } }

    private func error(_ kind: MMOFormatErrorKind, _ location: String, _ reason: String) -> MMOFormatError {
        MMOFormatError(kind, file: url.path, location: location, reason: reason)
    }

    func info(_ name: String) throws -> MMOBlobInfo {
        guard let blob = blob(named: name) else { throw error(.noSuchBlob, "blob \"\(name)\"", "no blob of this name in the file") }
        return blob
    }

    /// The stored bytes of `region` inside the mapping (validated in bounds by `open`).
    func storedBytes(_ region: MMORegion) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[region.offset..<(region.offset + region.storedLength)])
    }

    // MARK: - State document

    /// The state document's bytes, checksum-verified and checked with the strict JSON rules of
    /// the specification (§9, §7.4): UTF-8 without BOM, a JSON object, no duplicate keys, no
    /// unpaired surrogate escapes, depth ≤ 512. Every way of reading the state document
    /// (`stateDocument(as:)`, `verify`) goes through here, so a file is never read two ways: a
    /// lenient decoder would keep one of two duplicate keys where the strict reader refuses.
    public func stateDocument() throws -> Data {
        guard UInt64(stateRegion.length) <= ProcessInfo.processInfo.physicalMemory else {
            throw error(.invalidStateDocument, "state document", "\(stateRegion.length) bytes exceed this machine's memory")
        }
        var data = Data(count: stateRegion.length)
        try data.withUnsafeMutableBytes { try decode(stateRegion, filter: .none, elementSize: 1, location: "state document", into: $0) }
        try data.withUnsafeBytes { bytes in
            do {
                try JSONScanner.validateObject(bytes, maxDepth: MMOStateDocument.maxDepth)
            } catch let e as JSONParseError {
                throw error(.invalidStateDocument, "state document", "invalid at byte \(e.offset) of the state document: \(e.message)")
            }
        }
        return data
    }

    /// The state document (validated by `stateDocument()`) decoded as `T` with `JSONDecoder`.
    public func stateDocument<T: Decodable>(as type: T.Type) throws -> T {
        let data = try stateDocument()
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw self.error(.invalidStateDocument, "state document", "cannot be decoded as \(T.self): \(error)")
        }
    }

    // MARK: - Blobs

    /// Decodes blob `name` into `buffer`, which must be exactly `length` bytes.
    public func read(_ name: String, into buffer: UnsafeMutableRawBufferPointer) throws {
        try read(try info(name), into: buffer)
    }

    /// Decodes `blob` (one of `blobs`) into `buffer`, which must be exactly `blob.length` bytes.
    public func read(_ blob: MMOBlobInfo, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard buffer.count == blob.length else {
            throw error(.invalidArgument, "blob \"\(blob.name)\"", "the destination has \(buffer.count) bytes, the blob \(blob.length)")
        }
        try decode(blob.region, filter: blob.filter, elementSize: blob.dtype.size, location: "blob \"\(blob.name)\"", into: buffer)
    }

    /// The bytes of blob `name`, decoded and verified.
    public func data(_ name: String) throws -> Data {
        let blob = try info(name)
        try checkAllocatable(blob)
        var data = Data(count: blob.length)
        try data.withUnsafeMutableBytes { try read(blob, into: $0) }
        return data
    }

    /// The values of `f32` blob `name`.
    public func floats(_ name: String) throws -> [Float] {
        let blob = try info(name)
        guard blob.dtype == .f32 else { throw error(.invalidArgument, "blob \"\(name)\"", "dtype is \(blob.dtype.rawValue), not f32") }
        try checkAllocatable(blob)
        return try [Float](unsafeUninitializedCapacity: blob.count) { buffer, initialized in
            try read(blob, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = blob.count
        }
    }

    /// A zero-copy view of a blob stored raw, valid while this reader lives; nil for other
    /// codecs. With `verifyChecksum` (the default) the view's XXH3-64 is checked first.
    public func rawView(_ name: String, verifyChecksum: Bool = true) throws -> UnsafeRawBufferPointer? {
        let blob = try info(name)
        guard blob.codec == .raw else { return nil }
        let view = storedBytes(blob.region)
        if verifyChecksum { try check(view, against: blob.checksum, location: "blob \"\(name)\"") }
        return view
    }

    /// Calls `body` with the decoded bytes of blob `name`: the mapping itself for raw blobs,
    /// a temporary buffer otherwise.
    public func withBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if let view = try rawView(name) { return try body(view) }
        let blob = try info(name)
        try checkAllocatable(blob)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blob.length, alignment: 64)
        defer { buffer.deallocate() }
        try read(blob, into: buffer)
        return try body(UnsafeRawBufferPointer(buffer))
    }

    /// Refuses allocations larger than the machine's memory, so a hostile length cannot trap
    /// the allocator.
    private func checkAllocatable(_ blob: MMOBlobInfo) throws {
        guard UInt64(blob.length) <= ProcessInfo.processInfo.physicalMemory else {
            throw error(.invalidArgument, "blob \"\(blob.name)\"", "\(blob.length) bytes exceed this machine's memory; decode it in parts with read(_:into:)")
        }
    }

    // MARK: - Decoding

    func check(_ bytes: UnsafeRawBufferPointer, against expected: UInt64, location: String) throws {
        let actual = xxh3(bytes)
        guard actual == expected else {
            throw error(.checksumMismatch, location, "decoded bytes hash to \(hex16(actual)) but the index records \(hex16(expected)); the data is damaged")
        }
    }

    /// For a zstd region, the checks that need no allocation (spec §7.4.1): the stored bytes'
    /// XXH3-64 (damage is reported as damage, never handed to the decompressor), then the frame
    /// header rules of §4 (content size, dictionary, window).
    func checkStored(_ region: MMORegion, location: String) throws {
        guard region.codec == .zstd else { return }
        let stored = storedBytes(region)
        let storedActual = xxh3(stored)
        guard storedActual == region.storedChecksum else {
            throw error(.checksumMismatch, location, "stored bytes hash to \(hex16(storedActual)) but the index records \(hex16(region.storedChecksum ?? 0)); the data is damaged")
        }
        if let failure = ZstdFrameHeader.check(stored, length: region.length) { throw error(.decodeFailed, location, failure) }
    }

    /// Decodes one region into `destination` (exactly `region.length` bytes) and verifies it;
    /// `storedChecked` says that `checkStored` has already passed.
    func decode(
        _ region: MMORegion, filter: MMOFilter, elementSize: Int, location: String, into destination: UnsafeMutableRawBufferPointer,
        storedChecked: Bool = false
    ) throws {
        precondition(destination.count == region.length)
        let stored = storedBytes(region)
        switch region.codec {
        case .raw:
            if let base = destination.baseAddress, let source = stored.baseAddress { base.copyMemory(from: source, byteCount: stored.count) }
        case .zero:
            if let base = destination.baseAddress { base.initializeMemory(as: UInt8.self, repeating: 0, count: destination.count) }
        case .zstd:
            if !storedChecked { try checkStored(region, location: location) }
            let workspace = pool.take()
            defer { pool.give(workspace) }
            let target = filter == .shuffle ? workspace.scratch(destination.count) : destination
            if let failure = workspace.decompressor.decompress(stored, into: target) {
                throw error(.decodeFailed, location, failure)
            }
            if filter == .shuffle { unshuffleBytes(UnsafeRawBufferPointer(target), into: destination, elementSize: elementSize) }
        }
        try check(UnsafeRawBufferPointer(destination), against: region.checksum, location: location)
    }
}

// MARK: - Workspaces

/// A zstd context plus a scratch buffer for unshuffling; one per concurrent decode.
final class DecodeWorkspace {
    let decompressor = ZstdDecompressor()
    private var buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    /// Scratch of exactly `count` bytes (grown when needed, kept for reuse: re-allocating large
    /// buffers would page-fault on every blob).
    func scratch(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if buffer.count < count {
            buffer.deallocate()
            buffer = .allocate(byteCount: count, alignment: 64)
        }
        return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
    }

    deinit { buffer.deallocate() }
}

/// A locked free list of workspaces.
final class WorkspacePool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [DecodeWorkspace] = []

    func take() -> DecodeWorkspace {
        lock.lock()
        defer { lock.unlock() }
        return free.popLast() ?? DecodeWorkspace()
    }

    func give(_ workspace: DecodeWorkspace) {
        lock.lock()
        defer { lock.unlock() }
        free.append(workspace)
    }
}
