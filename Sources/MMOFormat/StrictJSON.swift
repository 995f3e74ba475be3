// A strict RFC 8259 JSON scanner for untrusted bytes: valid UTF-8 only, no BOM, no NaN or
// Infinity, no duplicate keys, bounded nesting depth; every failure is a message with a byte
// offset, never a crash. The index decoder drives the scanner directly (no tree, no per-key
// allocation: opening stays fast); `parse` builds a tree for the state-document check and tests.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A parsed JSON value. Objects keep their members in file order.
indirect enum JSONValue {
    case null
    case bool(Bool)
    /// A number written with digits only (no sign, fraction or exponent) that fits in `Int`.
    case integer(Int)
    /// Any other number (negative, fractional, exponent, or too large for `Int`).
    case otherNumber
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])
}

/// Parse failure: what and at which byte offset of the parsed text.
struct JSONParseError: Error {
    var offset: Int
    var message: String
}

/// The JSON type of the value starting at a given byte, for dispatch and error messages.
enum JSONKind: String {
    case object = "an object", array = "an array", string = "a string", number = "a number", literal = "a literal"
}

/// Tokenizer over a byte buffer, with the primitives the index decoder needs.
struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    private(set) var position = 0
    let maxDepth: Int
    /// Offset of the opening quote of the key `nextKey` returned last, so that a duplicate key
    /// is reported where it starts.
    private(set) var keyStart = 0

    init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) throws {
        self.bytes = bytes
        self.maxDepth = maxDepth
        try JSONScanner.checkUTF8(bytes)
    }

    /// The whole text must be UTF-8 without a byte-order mark (spec §7.2.1); ASCII, the common
    /// case, is checked word-wise.
    private static func checkUTF8(_ bytes: UnsafeRawBufferPointer) throws {
        // Named explicitly: Python and other parsers may skip a BOM silently, this format never does.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            throw JSONParseError(offset: 0, message: "a UTF-8 byte-order mark is not allowed")
        }
        var i = 0
        let n = bytes.count
        var high: UInt64 = 0
        while i + 8 <= n {
            high |= bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < n {
            high |= UInt64(bytes[i])
            i += 1
        }
        if high & 0x8080_8080_8080_8080 == 0 { return }
        if let offset = firstInvalidUTF8(bytes) {
            throw JSONParseError(offset: offset, message: "text is not valid UTF-8")
        }
    }

    func fail(_ message: String) -> JSONParseError { JSONParseError(offset: position, message: message) }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while position < bytes.count {
            let c = bytes[position]
            guard c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D else { return }
            position += 1
        }
    }

    /// The kind of the value at the current position (after whitespace).
    mutating func peekKind() throws -> JSONKind {
        skipWhitespace()
        guard let c = current else { throw fail("unexpected end of text, expected a value") }
        switch c {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"): return .literal
        default: throw fail("unexpected byte 0x\(String(c, radix: 16)), expected a value")
        }
    }

    /// Ends the text: only whitespace may follow.
    mutating func finish() throws {
        skipWhitespace()
        if position != bytes.count { throw fail("unexpected data after the JSON value") }
    }

    // MARK: Containers

    /// Consumes `{` (checking depth).
    mutating func beginObject(depth: Int) throws {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        skipWhitespace()
        guard current == UInt8(ascii: "{") else { throw fail("expected an object") }
        position += 1
    }

    /// The next member's key and consumes the `:`; nil at `}`.
    mutating func nextKey(first: inout Bool) throws -> StringToken? {
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return nil
        }
        if !first {
            guard current == UInt8(ascii: ",") else { throw fail("expected ',' or '}' in an object") }
            position += 1
            skipWhitespace()
        }
        first = false
        guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
        keyStart = position
        let key = try stringToken()
        skipWhitespace()
        guard current == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
        position += 1
        return key
    }

    /// Consumes `[` (checking depth).
    mutating func beginArray(depth: Int) throws {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        skipWhitespace()
        guard current == UInt8(ascii: "[") else { throw fail("expected an array") }
        position += 1
    }

    /// Whether another element follows (consuming the `,`); false at `]` (consumed).
    mutating func nextElement(first: inout Bool) throws -> Bool {
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return false
        }
        if !first {
            guard current == UInt8(ascii: ",") else { throw fail("expected ',' or ']' in an array") }
            position += 1
        }
        first = false
        return true
    }

    // MARK: Scalars

    /// A number: `.integer` for digits-only literals that fit in `Int`, else `.otherNumber`.
    mutating func number() throws -> JSONValue {
        skipWhitespace()
        let start = position
        var plain = true
        if current == UInt8(ascii: "-") {
            plain = false
            position += 1
        }
        guard let first = current, first >= 0x30, first <= 0x39 else { throw fail("expected a digit") }
        if first == 0x30 {
            position += 1
            if let c = current, c >= 0x30, c <= 0x39 { throw fail("leading zero in a number") }
        } else {
            while let c = current, c >= 0x30, c <= 0x39 { position += 1 }
        }
        if current == UInt8(ascii: ".") {
            plain = false
            position += 1
            guard let c = current, c >= 0x30, c <= 0x39 else { throw fail("expected a digit after '.'") }
            while let c = current, c >= 0x30, c <= 0x39 { position += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            plain = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard let c = current, c >= 0x30, c <= 0x39 else { throw fail("expected a digit in an exponent") }
            while let c = current, c >= 0x30, c <= 0x39 { position += 1 }
        }
        guard plain else { return .otherNumber }
        var value = 0
        for i in start..<position {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(bytes[i] - 0x30))
            if o1 || o2 { return .otherNumber }
            value = sum
        }
        return .integer(value)
    }

    /// `true`, `false` or `null`.
    mutating func literal() throws -> JSONValue {
        skipWhitespace()
        func accept(_ text: StaticString) -> Bool {
            let n = text.utf8CodeUnitCount
            guard position + n <= bytes.count, memcmp(bytes.baseAddress! + position, text.utf8Start, n) == 0 else { return false }
            position += n
            return true
        }
        if accept("true") { return .bool(true) }
        if accept("false") { return .bool(false) }
        if accept("null") { return .null }
        throw fail("invalid literal")
    }

    private mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw fail("unexpected end of text in \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            position += 1
        }
        return v
    }

    /// A string as scanned: a range of the text when it has no escapes (no allocation), or its
    /// unescaped bytes.
    enum StringToken {
        case raw(Range<Int>)
        case unescaped([UInt8])
    }

    /// Scans the string at the current position (its UTF-8 was validated with the whole text).
    mutating func stringToken() throws -> StringToken {
        skipWhitespace()
        guard current == UInt8(ascii: "\"") else { throw fail("expected a string") }
        position += 1
        let start = position
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                position += 1
                return .raw(start..<(position - 1))
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c == UInt8(ascii: "\\") { return .unescaped(try unescape(from: start)) }
            position += 1
        }
        throw fail("unterminated string")
    }

    private mutating func unescape(from start: Int) throws -> [UInt8] {
        var buffer = Array(bytes[start..<position])
        while true {
            guard let c = current else { throw fail("unterminated string") }
            if c == UInt8(ascii: "\"") {
                position += 1
                return buffer
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c != UInt8(ascii: "\\") {
                buffer.append(c)
                position += 1
                continue
            }
            let escapeStart = position
            position += 1
            guard let e = current else { throw fail("unterminated escape") }
            position += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(e)
            case UInt8(ascii: "b"): buffer.append(0x08)
            case UInt8(ascii: "f"): buffer.append(0x0C)
            case UInt8(ascii: "n"): buffer.append(0x0A)
            case UInt8(ascii: "r"): buffer.append(0x0D)
            case UInt8(ascii: "t"): buffer.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // Reported at the escape's backslash, like every other escape error would be.
                    let unpaired = JSONParseError(offset: escapeStart, message: "unpaired UTF-16 surrogate escape")
                    guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                    else { throw unpaired }
                    position += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw unpaired }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw JSONParseError(offset: escapeStart, message: "unpaired UTF-16 surrogate escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                buffer.append(contentsOf: String(u).utf8)
            default: throw fail("invalid escape character")
            }
        }
    }

    /// Calls `body` with the bytes of `token`.
    func withBytes<R>(_ token: StringToken, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch token {
        case .raw(let range): return try body(UnsafeRawBufferPointer(rebasing: bytes[range]))
        case .unescaped(let b): return try b.withUnsafeBytes(body)
        }
    }

    /// Whether `token` is exactly the ASCII text `text`.
    func matches(_ token: StringToken, _ text: StaticString) -> Bool {
        withBytes(token) { b in
            b.count == text.utf8CodeUnitCount && (b.count == 0 || memcmp(b.baseAddress!, text.utf8Start, b.count) == 0)
        }
    }

    /// `token` as a String.
    func string(_ token: StringToken) -> String { withBytes(token) { String(decoding: $0, as: UTF8.self) } }

    /// The string at the current position.
    mutating func string() throws -> String { string(try stringToken()) }

    // MARK: Generic values

    /// Parses any value into a tree; duplicate keys (as code-point sequences) are errors.
    mutating func value(depth: Int) throws -> JSONValue {
        switch try peekKind() {
        case .string: return .string(try string())
        case .number: return try number()
        case .literal: return try literal()
        case .array:
            try beginArray(depth: depth + 1)
            var elements: [JSONValue] = []
            var first = true
            while try nextElement(first: &first) { elements.append(try value(depth: depth + 1)) }
            return .array(elements)
        case .object:
            try beginObject(depth: depth + 1)
            var members: [(key: String, value: JSONValue)] = []
            var seen = Set<[UInt8]>()
            var first = true
            while let token = try nextKey(first: &first) {
                // Keys compare as code-point sequences, i.e. as UTF-8 bytes (not Swift's
                // canonical equivalence), as Python and most parsers do.
                let key = withBytes(token) { Array($0) }
                guard seen.insert(key).inserted else { throw JSONParseError(offset: keyStart, message: "duplicate key \(jsonQuoted(string(token)))") }
                members.append((string(token), try value(depth: depth + 1)))
            }
            return .object(members)
        }
    }

    /// Checks the value at the current position with exactly the rules of `value(depth:)`
    /// (duplicate keys, depth, escapes, numbers) without building a tree: only each object's
    /// key set is allocated. `depth` is the depth of the container holding the value (0 at the
    /// top level), so a top-level object is at depth 1 (spec §7.2.3).
    mutating func skipValue(depth: Int) throws {
        switch try peekKind() {
        case .string: _ = try stringToken()
        case .number: _ = try number()
        case .literal: _ = try literal()
        case .array:
            try beginArray(depth: depth + 1)
            var first = true
            while try nextElement(first: &first) { try skipValue(depth: depth + 1) }
        case .object:
            try beginObject(depth: depth + 1)
            var seen = Set<[UInt8]>()
            var first = true
            while let token = try nextKey(first: &first) {
                guard seen.insert(withBytes(token) { Array($0) }).inserted else {
                    throw JSONParseError(offset: keyStart, message: "duplicate key \(jsonQuoted(string(token)))")
                }
                try skipValue(depth: depth + 1)
            }
        }
    }

    /// Validates one complete JSON text whose top level must be an object (the state document,
    /// spec §9 and §7.4): UTF-8 without BOM, RFC 8259, no duplicate keys, no unpaired surrogate
    /// escapes, depth at most `maxDepth`.
    static func validateObject(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) throws {
        var scanner = try JSONScanner(bytes, maxDepth: maxDepth)
        guard try scanner.peekKind() == .object else { throw scanner.fail("the top level must be a JSON object") }
        try scanner.skipValue(depth: 0)
        try scanner.finish()
    }

    /// Parses one complete JSON text into a tree.
    static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) throws -> JSONValue {
        var scanner = try JSONScanner(bytes, maxDepth: maxDepth)
        let value = try scanner.value(depth: 0)
        try scanner.finish()
        return value
    }
}

/// The offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629:
/// no overlong forms, no surrogates, nothing above U+10FFFF), or nil if `bytes` are valid.
func firstInvalidUTF8(_ bytes: UnsafeRawBufferPointer) -> Int? {
    let n = bytes.count
    var i = 0
    while i < n {
        let b = bytes[i]
        if b < 0x80 {
            i += 1
            continue
        }
        // Length of the sequence and the allowed range of its second byte (RFC 3629 §4).
        let length: Int, low: UInt8, high: UInt8
        switch b {
        case 0xC2...0xDF: (length, low, high) = (2, 0x80, 0xBF)
        case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, low, high) = (3, 0x80, 0xBF)
        case 0xED: (length, low, high) = (3, 0x80, 0x9F)
        case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
        case 0xF1...0xF3: (length, low, high) = (4, 0x80, 0xBF)
        case 0xF4: (length, low, high) = (4, 0x80, 0x8F)
        default: return i
        }
        guard i + length <= n, bytes[i + 1] >= low, bytes[i + 1] <= high else { return i }
        for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return i }
        i += length
    }
    return nil
}

/// `s` as a JSON string literal (quotes included); escapes `"`, `\` and control characters.
func jsonQuoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where u.value < 0x20:
            let h = String(u.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
