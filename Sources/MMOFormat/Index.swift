// The JSON index (spec §3, §7.2–§7.3): how the writer spells it, and how the reader checks every
// field, every codec rule and the canonical layout before it exposes a single offset.

/// The decoded, validated index.
struct MMOIndex {
    var state: MMORegion
    var blobs: [MMOBlobInfo]
    /// Position of each blob in `blobs`, by name (filled by the decoder, unused by the writer).
    var positions: [String: Int] = [:]
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

