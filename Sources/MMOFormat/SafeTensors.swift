// A strict reader and writer of the safetensors format (huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON `{name: {dtype, shape, data_offsets}, ...,
// "__metadata__": {string: string}}`, then the data buffer. The reader trusts nothing: header
// size cap, UTF-8 and JSON shape, known dtypes, shape × dtype = byte length without overflow,
// offsets that tile the buffer exactly (no gap, no overlap, nothing left over).
import Foundation

/// Element types of safetensors.
public enum SafeTensorsDType: String, CaseIterable, Codable, Sendable {
    case BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .BOOL, .U8, .I8: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .F64, .I64, .U64: return 8
        }
    }
}

/// Why a safetensors file could not be read or written.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    case truncated(source: String, size: Int)
    case headerTooLarge(source: String, length: UInt64)
    case headerOutOfBounds(source: String, length: UInt64, fileSize: Int)
    case invalidHeader(source: String, reason: String)
    case unknownDType(source: String, tensor: String, dtype: String)
    case invalidTensor(source: String, tensor: String, reason: String)
    case invalidOffsets(source: String, tensor: String, reason: String)
    case bufferLength(source: String, expected: Int, actual: Int)
    case duplicateTensor(name: String)
    case missingTensor(source: String, name: String)
    case wrongDType(tensor: String, expected: String, actual: SafeTensorsDType)

    /// What went wrong, naming the file and tensor.
    public var description: String {
        switch self {
        case .truncated(let s, let size):
            return "\(s): \(size) bytes is too short for a safetensors file (needs an 8-byte header length); is this the right file?"
        case .headerTooLarge(let s, let n):
            return "\(s): header length \(n) exceeds the 100 MB limit; the file is corrupt or not safetensors"
        case .headerOutOfBounds(let s, let n, let size):
            return "\(s): header length \(n) runs past the end of the \(size)-byte file; the file is truncated or corrupt"
        case .invalidHeader(let s, let reason):
            return "\(s): invalid header: \(reason)"
        case .unknownDType(let s, let t, let d):
            return "\(s): tensor `\(t)` has unknown dtype `\(d)` (known: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .invalidTensor(let s, let t, let reason):
            return "\(s): tensor `\(t)`: \(reason)"
        case .invalidOffsets(let s, let t, let reason):
            return "\(s): tensor `\(t)` data_offsets: \(reason)"
        case .bufferLength(let s, let expected, let actual):
            return "\(s): the tensors cover \(expected) data bytes but the file holds \(actual); the file is truncated or has trailing bytes"
        case .duplicateTensor(let name):
            return "safetensors: tensor `\(name)` added twice; names must be unique"
        case .missingTensor(let s, let name):
            return "\(s): no tensor named `\(name)`"
        case .wrongDType(let t, let expected, let actual):
            return "safetensors: tensor `\(t)` is \(actual.rawValue), expected \(expected)"
        }
    }
}

/// One tensor: dtype, shape and its raw little-endian bytes.
public struct SafeTensor: Equatable, Sendable {
    /// Element type.
    public let dtype: SafeTensorsDType
    /// Row-major shape (empty for a scalar).
    public let shape: [Int]
    /// Raw little-endian element bytes.
    public let bytes: [UInt8]

    /// Number of elements (product of the shape; 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// A tensor from raw bytes; `bytes.count` must equal elements × dtype size.
    public init(dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) throws {
        guard let n = SafeTensor.byteCount(shape: shape, dtype: dtype), n == bytes.count else {
            throw SafeTensorsError.invalidTensor(
                source: "<memory>", tensor: "?", reason: "shape \(shape) × \(dtype.rawValue) does not match \(bytes.count) bytes")
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// An F32 tensor (precondition: `values.count` = product of `shape`).
    public init(floats values: [Float], shape: [Int]) {
        self.init(unchecked: .F32, shape: shape, values: values.map { $0.bitPattern.littleEndian })
    }

    /// An I64 tensor (precondition: `values.count` = product of `shape`).
    public init(int64s values: [Int64], shape: [Int]) {
        self.init(unchecked: .I64, shape: shape, values: values.map { $0.littleEndian })
    }

    /// An I32 tensor (precondition: `values.count` = product of `shape`).
    public init(int32s values: [Int32], shape: [Int]) {
        self.init(unchecked: .I32, shape: shape, values: values.map { $0.littleEndian })
    }

    private init<T: FixedWidthInteger>(unchecked dtype: SafeTensorsDType, shape: [Int], values: [T]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.dtype = dtype
        self.shape = shape
        self.bytes = values.withUnsafeBytes { Array($0) }
    }

    /// Bytes of `shape` × `dtype`, or nil on a negative dimension or overflow.
    static func byteCount(shape: [Int], dtype: SafeTensorsDType) -> Int? {
        var n = dtype.byteSize
        for d in shape {
            guard d >= 0 else { return nil }
            let (m, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = m
        }
        return n
    }

    private func load<T: FixedWidthInteger>(_: T.Type) -> [T] {
        bytes.withUnsafeBytes { raw in
            (0..<elementCount).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
    }

    /// The values of an F32 tensor.
    public func floats(name: String = "?") throws -> [Float] {
        guard dtype == .F32 else { throw SafeTensorsError.wrongDType(tensor: name, expected: "F32", actual: dtype) }
        return load(UInt32.self).map(Float.init(bitPattern:))
    }

    /// The values of an F32, F16 or BF16 tensor as `Float` (F16 and BF16 widen exactly).
    public func floatsWidening(name: String = "?") throws -> [Float] {
        switch dtype {
        case .F32: return try floats(name: name)
        case .F16: return load(UInt16.self).map { Float(Float16(bitPattern: $0)) }
        case .BF16: return load(UInt16.self).map { Float(bitPattern: UInt32($0) << 16) }
        default: throw SafeTensorsError.wrongDType(tensor: name, expected: "F32, F16 or BF16", actual: dtype)
        }
    }

    /// The values of an I64 or I32 tensor, as Int64.
    public func int64s(name: String = "?") throws -> [Int64] {
        switch dtype {
        case .I64: return load(Int64.self)
        case .I32: return load(Int32.self).map(Int64.init)
        default: throw SafeTensorsError.wrongDType(tensor: name, expected: "I64 or I32", actual: dtype)
        }
    }
}

/// An ordered set of named tensors plus string metadata: what one safetensors file holds.
public struct SafeTensorsFile: Sendable {
    /// Tensor names in file order (sorted by data offset when read).
    public private(set) var names: [String] = []
    private var byName: [String: SafeTensor] = [:]
    /// The `__metadata__` map.
    public var metadata: [String: String]
    /// Where the tensors came from, for error messages.
    public let source: String

    /// The largest header the reader accepts (as the reference implementation: 100 MB).
    public static let maxHeaderLength: UInt64 = 100_000_000

    /// An empty file to fill with `add`.
    public init(metadata: [String: String] = [:], source: String = "<memory>") {
        self.metadata = metadata
        self.source = source
    }

    /// Appends a tensor; names must be unique.
    public mutating func add(_ name: String, _ tensor: SafeTensor) throws {
        guard byName[name] == nil else { throw SafeTensorsError.duplicateTensor(name: name) }
        guard name != "__metadata__" else {
            throw SafeTensorsError.invalidTensor(source: source, tensor: name, reason: "`__metadata__` is reserved")
        }
        names.append(name)
        byName[name] = tensor
    }

    /// The tensor called `name`, if present.
    public subscript(name: String) -> SafeTensor? { byName[name] }

    /// The tensor called `name`, or an error naming the file and the tensor.
    public func tensor(_ name: String) throws -> SafeTensor {
        guard let t = byName[name] else { throw SafeTensorsError.missingTensor(source: source, name: name) }
        return t
    }

    // MARK: - Reading

    /// Reads the file at `url` (see `init(data:source:)` for the checks).
    public init(contentsOf url: URL) throws {
        let data = try Data(contentsOf: url, options: .mappedIfSafe)
        try self.init(data: data, source: url.path)
    }

    private struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [UInt64]
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct Header: Decodable {
        var entries: [(String, Entry)] = []
        var metadata: [String: String] = [:]
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            for key in c.allKeys {
                if key.stringValue == "__metadata__" {
                    metadata = try c.decode([String: String].self, forKey: key)
                } else {
                    entries.append((key.stringValue, try c.decode(Entry.self, forKey: key)))
                }
            }
        }
    }

    /// Parses and validates a whole safetensors file held in `data`.
    public init(data: Data, source: String = "<memory>") throws {
        self.source = source
        guard data.count >= 8 else { throw SafeTensorsError.truncated(source: source, size: data.count) }
        let n = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard n <= Self.maxHeaderLength else { throw SafeTensorsError.headerTooLarge(source: source, length: n) }
        guard n <= UInt64(data.count - 8) else {
            throw SafeTensorsError.headerOutOfBounds(source: source, length: n, fileSize: data.count)
        }
        let start = data.startIndex
        let headerBytes = data[(start + 8)..<(start + 8 + Int(n))]
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw SafeTensorsError.invalidHeader(source: source, reason: "does not start with `{`")
        }
        guard String(bytes: headerBytes, encoding: .utf8) != nil else {
            throw SafeTensorsError.invalidHeader(source: source, reason: "is not valid UTF-8")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(headerBytes))
        } catch {
            throw SafeTensorsError.invalidHeader(source: source, reason: "not a JSON object of {dtype, shape, data_offsets} entries (\(error))")
        }
        metadata = header.metadata
        let bufferLength = data.count - 8 - Int(n)
        // Validate each entry, then check that the offsets tile the buffer in order.
        var spans: [(name: String, begin: Int, end: Int, tensor: (SafeTensorsDType, [Int]))] = []
        for (name, e) in header.entries {
            guard let dtype = SafeTensorsDType(rawValue: e.dtype) else {
                throw SafeTensorsError.unknownDType(source: source, tensor: name, dtype: e.dtype)
            }
            guard e.data_offsets.count == 2 else {
                throw SafeTensorsError.invalidOffsets(source: source, tensor: name, reason: "needs [begin, end], got \(e.data_offsets.count) numbers")
            }
            let (b, en) = (e.data_offsets[0], e.data_offsets[1])
            guard b <= en else { throw SafeTensorsError.invalidOffsets(source: source, tensor: name, reason: "begin \(b) > end \(en)") }
            guard en <= UInt64(bufferLength) else {
                throw SafeTensorsError.invalidOffsets(source: source, tensor: name, reason: "end \(en) is past the \(bufferLength)-byte data buffer")
            }
            guard let bytes = SafeTensor.byteCount(shape: e.shape, dtype: dtype) else {
                throw SafeTensorsError.invalidTensor(source: source, tensor: name, reason: "shape \(e.shape) is negative or overflows")
            }
            guard bytes == Int(en - b) else {
                throw SafeTensorsError.invalidTensor(
                    source: source, tensor: name, reason: "shape \(e.shape) × \(dtype.rawValue) is \(bytes) bytes but data_offsets span \(en - b)")
            }
            spans.append((name, Int(b), Int(en), (dtype, e.shape)))
        }
        spans.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var cursor = 0
        for s in spans {
            guard s.begin == cursor else {
                let what = s.begin < cursor ? "overlaps the previous tensor (begins at \(s.begin), previous ends at \(cursor))" : "leaves a gap (begins at \(s.begin), previous ends at \(cursor))"
                throw SafeTensorsError.invalidOffsets(source: source, tensor: s.name, reason: what)
            }
            cursor = s.end
        }
        guard cursor == bufferLength else {
            throw SafeTensorsError.bufferLength(source: source, expected: cursor, actual: bufferLength)
        }
        let dataStart = start + 8 + Int(n)
        for s in spans {
            let bytes = Array(data[(dataStart + s.begin)..<(dataStart + s.end)])
            names.append(s.name)
            byName[s.name] = try SafeTensor(dtype: s.tensor.0, shape: s.tensor.1, bytes: bytes)
        }
    }

    // MARK: - Writing

    /// The file's bytes: tensors in `names` order, header padded with spaces to a multiple of 8
    /// (as the reference writer does, so that the data buffer starts aligned).
    public func serialized() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try encoder.encode(v), as: UTF8.self) }
        var parts: [String] = []
        if !metadata.isEmpty { parts.append("\"__metadata__\":\(try json(metadata))") }
        var offset = 0
        for name in names {
            let t = byName[name]!
            let end = offset + t.bytes.count
            parts.append("\(try json(name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":\(try json(t.shape)),\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(parts.joined(separator: ","))}".utf8)
        while (8 + header.count) % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for name in names { out.append(contentsOf: byName[name]!.bytes) }
        return out
    }

    /// Writes the file to `url` atomically (temporary file in the same folder, then rename).
    public func write(to url: URL) throws {
        try serialized().write(to: url, options: .atomic)
    }
}
