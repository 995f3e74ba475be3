// The `--logits` file of mmo-eval: one JSON object per line and per (model, example) with the
// token ids the model was fed (unpadded), so another implementation (transformers after
// mmo-export) can be compared on exactly the same input. Written to a temporary file beside
// the target and renamed at the end: an interrupted evaluation never leaves a truncated file
// under the requested name.
import Foundation
import MMORun

/// Streams logits rows to a JSONL file in bounded chunks.
public final class LogitsFileWriter {
    /// The file the rows end up in.
    public let url: URL
    private let temporaryURL: URL
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var finished = false
    /// Flush threshold: memory stays bounded whatever the dataset's size.
    private static let chunkBytes = 1 << 20

    /// Creates the temporary file beside `url` (its folder must exist).
    public init(url: URL) throws {
        self.url = url
        let folder = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TrainingError.io(path: url.path, reason: "cannot write the logits file: folder \(folder.path) does not exist")
        }
        temporaryURL = folder.appendingPathComponent(".\(url.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)")
        guard FileManager.default.createFile(atPath: temporaryURL.path, contents: nil),
            let handle = FileHandle(forWritingAtPath: temporaryURL.path)
        else {
            throw TrainingError.io(path: url.path, reason: "cannot write the logits file in \(folder.path) (permissions?)")
        }
        self.handle = handle
        buffer.reserveCapacity(Self.chunkBytes + 4096)
    }

    /// Appends one row: `{"model","index","text","input_ids","label","label_name","logits"}`.
    /// A non-finite logit is written as `null` (JSON has no NaN or infinity).
    public func append(
        model: String, index: Int, text: String, inputIDs: [Int32], label: Int, labelName: String, logits: UnsafePointer<Float>, count: Int
    ) throws {
        appendRowStart(model: model, index: index, text: text, inputIDs: inputIDs)
        append(",\"label\":\(label),\"label_name\":")
        appendString(labelName)
        append(",\"logits\":[")
        for c in 0..<count {
            if c > 0 { append(",") }
            // Swift's description of a Float is the shortest decimal that reads back as the
            // same Float, so the file carries the exact values.
            append(logits[c].isFinite ? "\(logits[c])" : "null")
        }
        append("]}\n")
        if buffer.count >= Self.chunkBytes { try flush() }
    }

    /// Appends one language-model row: `{"model","index","text","input_ids","targets"}`, the ids
    /// as the model was fed them (masked LM: after the validation masking) and per position the
    /// token it had to predict (-100: none). No logits: a row of vocabulary width per token
    /// would dwarf the data; the evaluation's loss is the number to reproduce.
    public func appendLanguageModel(model: String, index: Int, text: String, inputIDs: UnsafeBufferPointer<Int32>, targets: UnsafeBufferPointer<Int32>) throws {
        appendRowStart(model: model, index: index, text: text, inputIDs: inputIDs)
        append(",\"targets\":")
        appendIntegers(targets)
        append("}\n")
        if buffer.count >= Self.chunkBytes { try flush() }
    }

    /// Writes what is buffered and moves the file to `url` (replacing a previous one).
    public func commit() throws {
        try flush()
        do {
            try handle.synchronize()
            try handle.close()
            finished = true
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: temporaryURL, to: url)
        } catch {
            discard()
            throw TrainingError.io(path: url.path, reason: "cannot write the logits file: \(error.localizedDescription)")
        }
    }

    /// Removes the temporary file unless `commit` succeeded.
    public func discard() {
        guard !finished else { return }
        finished = true
        try? handle.close()
        try? FileManager.default.removeItem(at: temporaryURL)
    }

    deinit { discard() }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        do {
            try handle.write(contentsOf: buffer)
        } catch {
            throw TrainingError.io(path: url.path, reason: "cannot write the logits file (disk full?): \(error.localizedDescription)")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func append(_ s: String) { buffer.append(contentsOf: s.utf8) }

    /// `{"model":…,"index":…,"text":…,"input_ids":[…]` (what every row starts with).
    private func appendRowStart(model: String, index: Int, text: String, inputIDs: some Sequence<Int32>) {
        append("{\"model\":")
        appendString(model)
        append(",\"index\":\(index),\"text\":")
        appendString(text)
        append(",\"input_ids\":")
        appendIntegers(inputIDs)
    }

    /// A JSON array of integers.
    private func appendIntegers(_ values: some Sequence<Int32>) {
        append("[")
        for (i, v) in values.enumerated() { append(i == 0 ? "\(v)" : ",\(v)") }
        append("]")
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, everything
    /// else raw UTF-8 (a Swift String is valid Unicode, so the output is valid JSON).
    private func appendString(_ s: String) {
        buffer.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20: append(String(format: "\\u%04x", byte))
            default: buffer.append(byte)
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }
}
