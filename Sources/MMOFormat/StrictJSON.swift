// A strict RFC 8259 JSON parser for untrusted bytes: valid UTF-8 only, no BOM, no NaN or
// Infinity, no duplicate keys, bounded nesting depth; every failure is a message with a byte
// offset, never a crash. Only the index and the state-document check use it.

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

    /// A short name of the JSON type, for error messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .otherNumber: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Parse failure: what and at which byte offset of the parsed text.
struct JSONParseError: Error {
    var offset: Int
    var message: String
}

/// Recursive-descent parser over a byte buffer; `maxDepth` bounds arrays + objects nesting.
struct StrictJSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    private let maxDepth: Int

    /// Parses one complete JSON text (surrounding whitespace allowed, nothing else).
    static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) throws -> JSONValue {
        var parser = StrictJSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.position != bytes.count { throw parser.fail("unexpected data after the JSON value") }
        return value
    }

    private init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func fail(_ message: String) -> JSONParseError { JSONParseError(offset: position, message: message) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { position += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw fail("unexpected end of text") }
        let p = literal.utf8Start
        for i in 0..<count where bytes[position + i] != p[i] { throw fail("invalid literal") }
        position += count
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard let c = current else { throw fail("unexpected end of text, expected a value") }
        switch c {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected byte 0x\(String(c, radix: 16)), expected a value")
        }
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        position += 1  // {
        var members: [(key: String, value: JSONValue)] = []
        var seen: [String: Int] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = position
            let key = try parseString()
            // Keys are compared as code-point sequences (what Python and most parsers do), not
            // by Swift's canonical equivalence.
            if let other = seen[key], members[other].key.unicodeScalars.elementsEqual(key.unicodeScalars) {
                throw JSONParseError(offset: keyOffset, message: "duplicate key \"\(key)\"")
            }
            seen[key] = members.count
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
            position += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(members)
            default: throw fail("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        position += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(elements)
            default: throw fail("expected ',' or ']' in an array")
            }
        }
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = position
        var negative = false
        if current == UInt8(ascii: "-") { negative = true; position += 1 }
        guard let first = current, first >= 0x30, first <= 0x39 else { throw fail("expected a digit") }
        if first == 0x30 {
            position += 1
            if let c = current, c >= 0x30, c <= 0x39 { throw fail("leading zero in a number") }
        } else {
            while let c = current, c >= 0x30, c <= 0x39 { position += 1 }
        }
        var plain = !negative
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

    private mutating func parseHex4() throws -> UInt32 {
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

    private mutating func parseString() throws -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes, so the bytes can be validated and converted directly.
        while let c = current, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\") {
            if c < 0x20 { throw fail("control character in a string") }
            position += 1
        }
        guard let stop = current else { throw fail("unterminated string") }
        if stop == UInt8(ascii: "\"") {
            let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<position])
            position += 1
            guard let s = validatedUTF8(slice) else {
                throw JSONParseError(offset: start, message: "string is not valid UTF-8")
            }
            return s
        }
        var buffer = Array(bytes[start..<position])
        while true {
            guard let c = current else { throw fail("unterminated string") }
            if c == UInt8(ascii: "\"") { position += 1; break }
            if c < 0x20 { throw fail("control character in a string") }
            if c != UInt8(ascii: "\\") { buffer.append(c); position += 1; continue }
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
                var scalar = try parseHex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                        bytes[position + 1] == UInt8(ascii: "u")
                    else { throw fail("unpaired surrogate in \\u escape") }
                    position += 2
                    let low = try parseHex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw fail("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw fail("unpaired surrogate in \\u escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                buffer.append(contentsOf: String(u).utf8)
            default: throw fail("invalid escape character")
            }
        }
        guard let s = buffer.withUnsafeBytes({ validatedUTF8($0) }) else {
            throw JSONParseError(offset: start, message: "string is not valid UTF-8")
        }
        return s
    }
}

/// The string `bytes` encode, or nil if they are not valid UTF-8 (decoding repairs invalid
/// sequences with U+FFFD, so a valid input is exactly one that round-trips unchanged).
func validatedUTF8(_ bytes: UnsafeRawBufferPointer) -> String? {
    let s = String(decoding: bytes, as: UTF8.self)
    return s.utf8.elementsEqual(bytes) ? s : nil
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
