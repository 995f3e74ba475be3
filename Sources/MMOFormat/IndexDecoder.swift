// Reads the JSON index (spec §3, §7.2–§7.3) straight from the mapped bytes with the strict
// scanner: no intermediate tree and no per-key allocation, so that opening a checkpoint of
// hundreds of blobs takes well under a millisecond. Every field, codec rule and the canonical
// layout are checked before a single offset is exposed.

/// Where in the index a field is, rendered only when an error is reported.
private enum IndexPlace {
    case root, state
    case blob(Int, name: String?)

    func path(_ field: String?) -> String {
        let base: String
        switch self {
        case .root: base = "index"
        case .state: base = "index.state"
        case .blob(let i, let name): base = "index.blobs[\(i)]" + (name.map { " (\"\($0)\")" } ?? "")
        }
        return field.map { base + "." + $0 } ?? base
    }
}

/// The fields of an index entry, in bit order of the `seen` mask.
private let entryKeys: [StaticString] = ["codec", "offset", "stored_length", "length", "xxh3", "stored_xxh3", "name", "dtype", "shape", "filter"]
private let regionFieldCount = 6

/// Decodes one index; `strictKeys` is false only for files of a newer minor version, whose
/// additional optional keys are ignored (spec §10).
struct MMOIndexDecoder {
    let path: String
    let strictKeys: Bool

    private func error(_ kind: MMOFormatErrorKind, _ place: IndexPlace, _ field: String?, _ reason: String) -> MMOFormatError {
        MMOFormatError(kind, file: path, location: place.path(field), reason: reason)
    }

    func decode(_ bytes: UnsafeRawBufferPointer, header: MMOHeader) throws -> MMOIndex {
        do {
            var scanner = try JSONScanner(bytes, maxDepth: 8)
            let index = try root(&scanner)
            try scanner.finish()
            try checkLayout(index, header: header)
            return index
        } catch let e as JSONParseError {
            throw MMOFormatError(.malformedIndex, file: path, location: "index", reason: "invalid JSON at byte \(e.offset) of the index: \(e.message)")
        }
    }

    private func root(_ s: inout JSONScanner) throws -> MMOIndex {
        guard try s.peekKind() == .object else { throw error(.malformedIndex, .root, nil, "must be an object, found \(try s.peekKind().rawValue)") }
        try s.beginObject(depth: 1)
        var state: MMORegion?
        var blobs: [MMOBlobInfo]?
        var positions: [String: Int] = [:]
        var unknown: [[UInt8]] = []
        var first = true
        while let key = try s.nextKey(first: &first) {
            if s.matches(key, "state") {
                guard state == nil else { throw JSONParseError(offset: s.keyStart, message: "duplicate key \"state\"") }
                state = try entry(&s, .state, isBlob: false).region
            } else if s.matches(key, "blobs") {
                guard blobs == nil else { throw JSONParseError(offset: s.keyStart, message: "duplicate key \"blobs\"") }
                guard try s.peekKind() == .array else { throw error(.malformedIndex, .root, "blobs", "must be an array, found \(try s.peekKind().rawValue)") }
                try s.beginArray(depth: 2)
                var list: [MMOBlobInfo] = []
                var more = true
                while try s.nextElement(first: &more) {
                    let i = list.count
                    let blob = try entry(&s, .blob(i, name: nil), isBlob: true).blob!
                    // Names are ASCII, so String equality is byte equality here.
                    guard positions.updateValue(i, forKey: blob.name) == nil else {
                        throw error(.invalidBlob, .blob(i, name: nil), "name", "duplicate blob name \"\(blob.name)\"")
                    }
                    list.append(blob)
                }
                blobs = list
            } else {
                try skipUnknown(&s, key, seen: &unknown, place: .root, depth: 1)
            }
        }
        guard let state else { throw error(.malformedIndex, .root, nil, "required key \"state\" is missing") }
        guard let blobs else { throw error(.malformedIndex, .root, nil, "required key \"blobs\" is missing") }
        return MMOIndex(state: state, blobs: blobs, positions: positions)
    }

    /// Skips the value of an unknown key (allowed in a newer minor version) with the rules of
    /// §7.2; `depth` is that of the object holding the key, so the value's own containers count
    /// from `depth + 1`, as everywhere else.
    private func skipUnknown(
        _ s: inout JSONScanner, _ key: JSONScanner.StringToken, seen: inout [[UInt8]], place: IndexPlace, depth: Int
    ) throws {
        let bytes = s.withBytes(key) { Array($0) }
        guard !seen.contains(bytes) else { throw JSONParseError(offset: s.keyStart, message: "duplicate key \(jsonQuoted(s.string(key)))") }
        guard !strictKeys else {
            throw error(.malformedIndex, place, nil, "unknown key \(jsonQuoted(s.string(key))) (not in format version \(MMOLimits.majorVersion).\(MMOLimits.minorVersion))")
        }
        seen.append(bytes)
        try s.skipValue(depth: depth)
    }

    // MARK: - Entries

    private func integer(_ s: inout JSONScanner, _ place: IndexPlace, _ field: @autoclosure () -> String) throws -> Int {
        guard try s.peekKind() == .number, case .integer(let v) = try s.number(), v <= MMOLimits.maxInteger else {
            throw error(.malformedIndex, place, field(), "must be an integer written with digits only, at most 2^53-1")
        }
        return v
    }

    private func stringToken(_ s: inout JSONScanner, _ place: IndexPlace, _ field: @autoclosure () -> String) throws -> JSONScanner.StringToken {
        let kind = try s.peekKind()
        guard kind == .string else { throw error(.malformedIndex, place, field(), "must be a string, found \(kind.rawValue)") }
        return try s.stringToken()
    }

    private func checksum(_ s: inout JSONScanner, _ place: IndexPlace, _ field: @autoclosure () -> String) throws -> UInt64 {
        let token = try stringToken(&s, place, field())
        let value: UInt64? = s.withBytes(token) { b in
            guard b.count == 16 else { return nil }
            var v: UInt64 = 0
            for c in b {
                switch c {
                case 0x30...0x39: v = v << 4 | UInt64(c - 0x30)
                case 0x61...0x66: v = v << 4 | UInt64(c - 0x61 + 10)
                default: return nil
                }
            }
            return v
        }
        guard let value else { throw error(.malformedIndex, place, field(), "must be 16 lowercase hexadecimal digits") }
        return value
    }

    /// One entry: the state region (`isBlob` false) or a blob.
    private func entry(_ s: inout JSONScanner, _ place: IndexPlace, isBlob: Bool) throws -> (region: MMORegion, blob: MMOBlobInfo?) {
        let depth = isBlob ? 3 : 2
        let kind = try s.peekKind()
        guard kind == .object else { throw error(.malformedIndex, place, nil, "must be an object, found \(kind.rawValue)") }
        try s.beginObject(depth: depth)
        var seen: UInt16 = 0
        var unknown: [[UInt8]] = []
        var codec: JSONScanner.StringToken?, dtype: JSONScanner.StringToken?, filter: JSONScanner.StringToken?
        var offset = 0, storedLength = 0, length = 0, checksum: UInt64 = 0, storedChecksum: UInt64?
        var name = "", shape: [Int] = []
        var first = true
        while let key = try s.nextKey(first: &first) {
            let limit = isBlob ? entryKeys.count : regionFieldCount
            guard let field = (0..<limit).first(where: { s.matches(key, entryKeys[$0]) }) else {
                try skipUnknown(&s, key, seen: &unknown, place: place, depth: depth)
                continue
            }
            guard seen & (1 << field) == 0 else { throw JSONParseError(offset: s.keyStart, message: "duplicate key \"\(entryKeys[field])\"") }
            seen |= 1 << field
            func fieldName() -> String { "\(entryKeys[field])" }
            switch field {
            case 0: codec = try stringToken(&s, place, fieldName())
            case 1: offset = try integer(&s, place, fieldName())
            case 2: storedLength = try integer(&s, place, fieldName())
            case 3: length = try integer(&s, place, fieldName())
            case 4: checksum = try self.checksum(&s, place, fieldName())
            case 5: storedChecksum = try self.checksum(&s, place, fieldName())
            case 6: name = try self.name(&s, place)
            case 7: dtype = try stringToken(&s, place, fieldName())
            case 8: shape = try self.shape(&s, place)
            default: filter = try stringToken(&s, place, fieldName())
            }
        }
        for field in 0..<(isBlob ? entryKeys.count : regionFieldCount) where field != 5 && seen & (1 << field) == 0 {
            throw error(.malformedIndex, place, nil, "required key \"\(entryKeys[field])\" is missing")
        }
        let at: IndexPlace = isBlob ? { if case .blob(let i, _) = place { return .blob(i, name: name) } else { return place } }() : place
        let region = try self.region(
            codec: s.string(codec!), offset: offset, storedLength: storedLength, length: length, checksum: checksum,
            storedChecksum: storedChecksum, at, isBlob: isBlob)
        guard isBlob else { return (region, nil) }
        return (region, try blob(name: name, dtype: s.string(dtype!), shape: shape, filter: s.string(filter!), region: region, at))
    }

    private func name(_ s: inout JSONScanner, _ place: IndexPlace) throws -> String {
        let token = try stringToken(&s, place, "name")
        let valid = s.withBytes(token) { b in
            !b.isEmpty && b.count <= MMOLimits.maxNameLength && b.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
        }
        guard valid else {
            throw error(.invalidBlob, place, "name", "blob names are 1…\(MMOLimits.maxNameLength) bytes of printable ASCII without spaces; got \(jsonQuoted(s.string(token)))")
        }
        return s.string(token)
    }

    private func shape(_ s: inout JSONScanner, _ place: IndexPlace) throws -> [Int] {
        let kind = try s.peekKind()
        guard kind == .array else { throw error(.malformedIndex, place, "shape", "must be an array of integers, found \(kind.rawValue)") }
        try s.beginArray(depth: 4)
        var shape: [Int] = []
        var first = true
        while try s.nextElement(first: &first) {
            guard shape.count < MMOLimits.maxRank else { throw error(.invalidBlob, place, "shape", "rank exceeds \(MMOLimits.maxRank)") }
            shape.append(try integer(&s, place, "shape[\(shape.count)]"))
        }
        return shape
    }

    private func region(
        codec codecName: String, offset: Int, storedLength: Int, length: Int, checksum: UInt64, storedChecksum: UInt64?,
        _ place: IndexPlace, isBlob: Bool
    ) throws -> MMORegion {
        guard let codec = MMOCodec(rawValue: codecName), isBlob || codec != .zero else {
            throw error(.malformedIndex, place, "codec", "unknown codec \(jsonQuoted(codecName)) (expected \(isBlob ? "raw, zstd or zero" : "raw or zstd"))")
        }
        // One bound for every codec (spec §7.3.4): without it a `zero` blob, which costs no
        // stored bytes, could claim petabytes that `verify` would have to hash.
        guard length <= MMOLimits.maxRegionLength else {
            throw error(isBlob ? .invalidBlob : .invalidStateDocument, place, "length", "\(length) bytes exceed the format's limit of 2^40 bytes per region")
        }
        switch codec {
        case .raw:
            guard storedLength == length else {
                throw error(.invalidBlob, place, "stored_length", "codec raw requires stored_length (\(storedLength)) = length (\(length))")
            }
        case .zero:
            guard storedLength == 0 else { throw error(.invalidBlob, place, "stored_length", "codec zero requires stored_length 0") }
        case .zstd:
            guard storedLength > 0, length <= storedLength * MMOLimits.maxZstdExpansion else {
                throw error(.invalidBlob, place, "length", "a zstd frame of \(storedLength) bytes cannot decode to \(length) bytes")
            }
        }
        guard (codec == .zstd) == (storedChecksum != nil) else {
            throw error(.invalidBlob, place, "stored_xxh3", codec == .zstd ? "required with codec zstd" : "only allowed with codec zstd")
        }
        if !isBlob, length < 2 {
            throw error(.invalidStateDocument, place, "length", "the state document must be a JSON object (at least 2 bytes)")
        }
        return MMORegion(codec: codec, offset: offset, storedLength: storedLength, length: length, checksum: checksum, storedChecksum: storedChecksum)
    }

    private func blob(name: String, dtype dtypeName: String, shape: [Int], filter filterName: String, region: MMORegion, _ place: IndexPlace) throws -> MMOBlobInfo {
        guard let dtype = MMODType(rawValue: dtypeName) else { throw error(.invalidBlob, place, "dtype", "unknown dtype \(jsonQuoted(dtypeName))") }
        // Spec §7.3.7: the exact product of the dimensions (each ≤ 2^53-1 by rule 3) times the
        // element size equals `length` (≤ 2^40). A zero dimension makes the product 0 whatever
        // the others are; a product beyond Int cannot equal any length.
        guard let count = MMOLimits.elementCount(shape), count <= region.length, count * dtype.size == region.length else {
            throw error(.invalidBlob, place, "length", "shape \(shape) × \(dtype.rawValue) (\(dtype.size) bytes) is not length \(region.length)")
        }
        guard let filter = MMOFilter(rawValue: filterName) else {
            throw error(.invalidBlob, place, "filter", "unknown filter \(jsonQuoted(filterName)) (expected none or shuffle)")
        }
        if filter == .shuffle {
            guard region.codec == .zstd else { throw error(.invalidBlob, place, "filter", "shuffle is only allowed with codec zstd") }
            guard dtype.size >= 2 else { throw error(.invalidBlob, place, "filter", "shuffle needs an element of at least 2 bytes") }
        }
        return MMOBlobInfo(name: name, dtype: dtype, shape: shape, filter: filter, region: region)
    }

    // MARK: - Layout

    /// The canonical layout (spec §6): the state document starts right after the header, each
    /// next region at the first 64-byte boundary after the previous one ends, and the index at the
    /// boundary after the last blob. Overlaps, gaps and out-of-bounds offsets are all violations.
    private func checkLayout(_ index: MMOIndex, header: MMOHeader) throws {
        var cursor = MMOLimits.headerSize
        func place(_ region: MMORegion, _ at: IndexPlace) throws {
            guard region.offset == cursor else {
                throw error(.invalidLayout, at, "offset", "offset is \(region.offset) but the region must start at \(cursor) (the first 64-byte boundary after the previous region)")
            }
            cursor = alignUp(region.offset + region.storedLength)
            guard cursor <= header.indexOffset else {
                throw error(.invalidLayout, at, "stored_length", "region \(region.offset) + \(region.storedLength) runs past the index at \(header.indexOffset)")
            }
        }
        try place(index.state, .state)
        for (i, blob) in index.blobs.enumerated() { try place(blob.region, .blob(i, name: blob.name)) }
        guard cursor == header.indexOffset else {
            throw MMOFormatError(.invalidLayout, file: path, location: "header.index_offset", reason: "index starts at \(header.indexOffset) but the last region's padding ends at \(cursor)")
        }
    }
}
