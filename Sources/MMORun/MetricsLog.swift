// `metrics.jsonl`: one JSON object per line, flushed per line, so a killed run loses at most the
// line being written. On resume the lines after the checkpoint's step are dropped, so the file
// always describes one history.
import Foundation

/// Appends JSON lines to a run's metrics file.
public final class MetricsLog {
    private let handle: FileHandle
    /// The `metrics.jsonl` file being appended to.
    public let url: URL
    private let encoder: JSONEncoder

    /// Opens `url` for appending; with `truncateAfterStep`, first drops lines whose `step` is
    /// greater (a resumed run rewrites the history after its checkpoint).
    public init(url: URL, truncateAfterStep: Int? = nil) throws {
        self.url = url
        let fm = FileManager.default
        if let limit = truncateAfterStep, let data = fm.contents(atPath: url.path) {
            var kept = Data()
            for line in data.split(separator: UInt8(ascii: "\n")) {
                let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
                if let step = object?["step"] as? Int, step > limit { continue }
                if object == nil { continue }  // a torn last line from a killed run
                kept.append(contentsOf: line)
                kept.append(UInt8(ascii: "\n"))
            }
            do {
                try kept.write(to: url, options: .atomic)
            } catch {
                throw TrainingError.io(path: url.path, reason: "cannot rewrite metrics (\((error as NSError).localizedDescription))")
            }
        }
        if !fm.fileExists(atPath: url.path) { _ = fm.createFile(atPath: url.path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: url.path) else {
            throw TrainingError.io(path: url.path, reason: "cannot open the metrics file for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    deinit { try? handle.close() }

    /// Writes one record as a line.
    public func append<T: Encodable>(_ record: T) throws {
        var data = try encoder.encode(record)
        data.append(UInt8(ascii: "\n"))
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw TrainingError.io(path: url.path, reason: "cannot append metrics (\((error as NSError).localizedDescription))")
        }
    }
}
