// The JSON index (spec §3, §7.2–§7.3): how the writer spells it, and how the reader checks every
// field, every codec rule and the canonical layout before it exposes a single offset.

/// The decoded, validated index.
struct MMOIndex {
    var state: MMORegion
    var blobs: [MMOBlobInfo]
}

// MARK: - Writing

extension MMORegion {
    /// The region fields as JSON members, in the order the writer emits them.
    fileprivate var jsonMembers: String {
        var s = "\"codec\":\"\(codec.rawValue)\",\"offset\":\(offset),\"stored_length\":\(storedLength),"
        s += "\"length\":\(length),\"xxh3\":\"\(hex16(checksum))\""
        if let storedChecksum { s += ",\"stored_xxh3\":\"\(hex16(storedChecksum))\"" }
        return s
    }
}

extension MMOIndex {
    /// Compact JSON with a fixed key order, so identical content gives identical bytes.
    func encoded() -> [UInt8] {
        var s = "{\"state\":{\(state.jsonMembers)},\"blobs\":["
        for (i, blob) in blobs.enumerated() {
            if i > 0 { s += "," }
            let shape = blob.shape.map(String.init).joined(separator: ",")
            s += "{\"name\":\(jsonQuoted(blob.name)),\"dtype\":\"\(blob.dtype.rawValue)\",\"shape\":[\(shape)],"
            s += "\"filter\":\"\(blob.filter.rawValue)\",\(blob.region.jsonMembers)}"
        }
        s += "]}"
        return Array(s.utf8)
    }
}

// MARK: - Reading

/// Validates one index against the rules of spec §7; `strictKeys` is false only for files of a
/// newer minor version, whose additional optional keys are ignored.
struct MMOIndexValidator {
    let path: String
    let strictKeys: Bool

    private func error(_ kind: MMOFormatErrorKind, _ location: String, _ reason: String) -> MMOFormatError {
        MMOFormatError(kind, file: path, location: location, reason: reason)
    }

    /// Parses `bytes` and validates it against `header` (the index must end the file and start
    /// where the last region's padding ends).
    func validate(_ bytes: UnsafeRawBufferPointer, header: MMOHeader) throws -> MMOIndex {
        let root: JSONValue
        do {
            root = try StrictJSONParser.parse(bytes, maxDepth: 8)
        } catch let e as JSONParseError {
            throw error(.malformedIndex, "index", "invalid JSON at byte \(e.offset) of the index: \(e.message)")
        }
        let members = try object(root, "index", required: ["state", "blobs"], optional: [])
        let state = try region(members["state"]!, "index.state", isBlob: false)
        guard case .array(let entries) = members["blobs"]! else {
            throw error(.malformedIndex, "index.blobs", "must be an array, found \(members["blobs"]!.typeName)")
        }
        var blobs: [MMOBlobInfo] = []
        blobs.reserveCapacity(entries.count)
        var names = Set<String>()
        names.reserveCapacity(entries.count)
        for (i, entry) in entries.enumerated() {
            let blob = try self.blob(entry, "index.blobs[\(i)]")
            // Names are ASCII, so String equality is byte equality here.
            guard names.insert(blob.name).inserted else {
                throw error(.invalidBlob, "index.blobs[\(i)].name", "duplicate blob name \"\(blob.name)\"")
            }
            blobs.append(blob)
        }
        try checkLayout(state: state, blobs: blobs, header: header)
        return MMOIndex(state: state, blobs: blobs)
    }

    /// The canonical layout (spec §6): the state document starts right after the header, each
    /// next region at the first 64-byte boundary after the previous one ends, and the index at the
    /// boundary after the last blob. Overlaps, gaps and out-of-bounds offsets are all violations.
    private func checkLayout(state: MMORegion, blobs: [MMOBlobInfo], header: MMOHeader) throws {
        var cursor = MMOLimits.headerSize
        func place(_ region: MMORegion, _ location: String) throws {
            guard region.offset == cursor else {
                throw error(.invalidLayout, location + ".offset", "offset is \(region.offset) but the region must start at \(cursor) (the first 64-byte boundary after the previous region)")
            }
            cursor = alignUp(region.offset + region.storedLength)
            guard cursor <= header.indexOffset else {
                throw error(.invalidLayout, location + ".stored_length", "region \(region.offset) + \(region.storedLength) runs past the index at \(header.indexOffset)")
            }
        }
        try place(state, "index.state")
        for (i, blob) in blobs.enumerated() { try place(blob.region, "index.blobs[\(i)] (\"\(blob.name)\")") }
        guard cursor == header.indexOffset else {
            throw error(.invalidLayout, "header.index_offset", "index starts at \(header.indexOffset) but the last region's padding ends at \(cursor)")
        }
    }

    /// The members of an object, after checking required keys and rejecting unknown ones.
    private func object(
        _ value: JSONValue, _ location: String, required: [String], optional: [String]
    ) throws -> [String: JSONValue] {
        guard case .object(let members) = value else {
            throw error(.malformedIndex, location, "must be an object, found \(value.typeName)")
        }
        var result: [String: JSONValue] = [:]
        for (key, member) in members {
            if required.contains(key) || optional.contains(key) {
                result[key] = member
            } else if strictKeys {
                throw error(.malformedIndex, location, "unknown key \(jsonQuoted(key)) (not in format version \(MMOLimits.majorVersion).\(MMOLimits.minorVersion))")
            }
        }
        for key in required where result[key] == nil {
            throw error(.malformedIndex, location, "required key \"\(key)\" is missing")
        }
        return result
    }

    private func integer(_ value: JSONValue, _ location: String) throws -> Int {
        guard case .integer(let v) = value, v <= MMOLimits.maxInteger else {
            throw error(.malformedIndex, location, "must be an integer written with digits only, at most 2^53-1")
        }
        return v
    }

    private func string(_ value: JSONValue, _ location: String) throws -> String {
        guard case .string(let s) = value else { throw error(.malformedIndex, location, "must be a string, found \(value.typeName)") }
        return s
    }

    private func checksum(_ value: JSONValue, _ location: String) throws -> UInt64 {
        let s = try string(value, location)
        guard s.utf8.count == 16, s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }),
            let v = UInt64(s, radix: 16)
        else { throw error(.malformedIndex, location, "must be 16 lowercase hexadecimal digits") }
        return v
    }

    private func region(_ value: JSONValue, _ location: String, isBlob: Bool) throws -> MMORegion {
        let required = ["codec", "offset", "stored_length", "length", "xxh3"] + (isBlob ? ["name", "dtype", "shape", "filter"] : [])
        let m = try object(value, location, required: required, optional: ["stored_xxh3"])
        let codecName = try string(m["codec"]!, location + ".codec")
        guard let codec = MMOCodec(rawValue: codecName), isBlob || codec != .zero else {
            throw error(.malformedIndex, location + ".codec", "unknown codec \(jsonQuoted(codecName)) (expected \(isBlob ? "raw, zstd or zero" : "raw or zstd"))")
        }
        let region = MMORegion(
            codec: codec, offset: try integer(m["offset"]!, location + ".offset"),
            storedLength: try integer(m["stored_length"]!, location + ".stored_length"),
            length: try integer(m["length"]!, location + ".length"), checksum: try checksum(m["xxh3"]!, location + ".xxh3"),
            storedChecksum: try m["stored_xxh3"].map { try checksum($0, location + ".stored_xxh3") })
        switch codec {
        case .raw:
            guard region.storedLength == region.length else {
                throw error(.invalidBlob, location + ".stored_length", "codec raw requires stored_length (\(region.storedLength)) = length (\(region.length))")
            }
        case .zero:
            guard region.storedLength == 0 else { throw error(.invalidBlob, location + ".stored_length", "codec zero requires stored_length 0") }
        case .zstd:
            guard region.storedLength > 0, region.length <= region.storedLength * MMOLimits.maxZstdExpansion else {
                throw error(.invalidBlob, location + ".length", "a zstd frame of \(region.storedLength) bytes cannot decode to \(region.length) bytes")
            }
        }
        guard (codec == .zstd) == (region.storedChecksum != nil) else {
            throw error(.invalidBlob, location + ".stored_xxh3", codec == .zstd ? "required with codec zstd" : "only allowed with codec zstd")
        }
        if !isBlob, region.length < 2 {
            throw error(.invalidStateDocument, location + ".length", "the state document must be a JSON object (at least 2 bytes)")
        }
        return region
    }

    private func blob(_ value: JSONValue, _ location: String) throws -> MMOBlobInfo {
        let region = try self.region(value, location, isBlob: true)
        guard case .object(let members) = value else { preconditionFailure("region() accepted a non-object") }
        func member(_ key: String) -> JSONValue { members.first { $0.key == key }!.value }
        let name = try string(member("name"), location + ".name")
        guard mmoIsValidBlobName(name) else {
            throw error(.invalidBlob, location + ".name", "blob names are 1…\(MMOLimits.maxNameLength) bytes of printable ASCII without spaces; got \(jsonQuoted(name))")
        }
        let at = "\(location) (\"\(name)\")"
        let dtypeName = try string(member("dtype"), at + ".dtype")
        guard let dtype = MMODType(rawValue: dtypeName) else {
            throw error(.invalidBlob, at + ".dtype", "unknown dtype \(jsonQuoted(dtypeName))")
        }
        guard case .array(let dims) = member("shape") else { throw error(.malformedIndex, at + ".shape", "must be an array of integers") }
        guard dims.count <= MMOLimits.maxRank else { throw error(.invalidBlob, at + ".shape", "rank \(dims.count) exceeds \(MMOLimits.maxRank)") }
        var shape: [Int] = []
        var count = 1
        for (d, dim) in dims.enumerated() {
            let n = try integer(dim, at + ".shape[\(d)]")
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow, product <= MMOLimits.maxInteger else { throw error(.invalidBlob, at + ".shape", "element count exceeds 2^53-1") }
            count = product
            shape.append(n)
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, bytes == region.length else {
            throw error(.invalidBlob, at + ".length", "shape \(shape) × \(dtype.rawValue) (\(dtype.size) bytes) is not length \(region.length)")
        }
        let filterName = try string(member("filter"), at + ".filter")
        guard let filter = MMOFilter(rawValue: filterName) else {
            throw error(.invalidBlob, at + ".filter", "unknown filter \(jsonQuoted(filterName)) (expected none or shuffle)")
        }
        if filter == .shuffle {
            guard region.codec == .zstd else { throw error(.invalidBlob, at + ".filter", "shuffle is only allowed with codec zstd") }
            guard dtype.size >= 2 else { throw error(.invalidBlob, at + ".filter", "shuffle needs an element of at least 2 bytes") }
        }
        return MMOBlobInfo(name: name, dtype: dtype, shape: shape, filter: filter, region: region)
    }
}
