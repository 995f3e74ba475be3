// `mmo-bench format`: save, open and full-read cost of the .mmo checkpoint on the `small` joint
// state (BERT, GPT-2, RoBERTa with hidden 256, 4 layers, ffn 1024, vocab 8000, 512 positions,
// each with AdamW m and v: ~193 MB). Writes the file and a JSON of the figures so that
// `tools/bench_format_torch.py` can compare torch.save and safetensors on the same content.
import ArgumentParser
import Foundation
import MMOCore
import MMOFormat
import MMOModels

struct BenchFormat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "format",
        abstract: "Time .mmo save / open / full read on the `small` joint state (three models + AdamW moments).")

    @Option(help: "Folder for the checkpoint and the JSON results.")
    var out = "bench-out/format"

    @Option(help: "Comma-separated zstd levels to measure (the first is the one the JSON reports).")
    var levels = "\(MMOWriteOptions.defaultCompressionLevel)"

    @Option(help: "Timed repetitions of each save and full read (the median is reported).")
    var repeats = 5

    @Option(help: "Worker threads for compression and decoding (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "zstd hashLog for shuffled byte planes (0: the level's own default).")
    var planeHashLog: Int32 = MMOWriteOptions().planeHashLog ?? 0

    @Option(help: "Seed of the synthetic parameter and moment values.")
    var seed: UInt64 = 42

    func validate() throws {
        guard repeats >= 1, threads >= 1 else { throw ValidationError("--repeats and --threads must be ≥ 1") }
        guard !parsedLevels.isEmpty, parsedLevels.count == levels.split(separator: ",").count else {
            throw ValidationError("--levels must be comma-separated integers, e.g. 1,3,-1")
        }
    }

    var parsedLevels: [Int32] { levels.split(separator: ",").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) } }

    func run() throws {
        let folder = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let state = try FormatBenchState.small(seed: seed)
        print("state: \(state.arrays.count) arrays, \(String(format: "%.1f", Double(state.rawBytes) / 1e6)) MB raw")

        var rows: [FormatBenchRow] = []
        for level in parsedLevels {
            rows.append(try measure(state, level: level, compress: true, folder: folder))
        }
        rows.append(try measure(state, level: 0, compress: false, folder: folder))
        print(FormatBenchRow.header)
        for row in rows { print(row.line) }

        // The first level's file is the one Python converts; rewrite it (the raw row overwrote nothing,
        // it has its own name, but keep the order obvious).
        let results = FormatBenchResults(
            file: folder.appendingPathComponent(FormatBenchRow.fileName(level: parsedLevels[0], compress: true)).path,
            rawBytes: state.rawBytes, arrays: state.arrays.count, threads: threads, seed: seed, rows: rows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = folder.appendingPathComponent("format-swift.json")
        try encoder.encode(results).write(to: json)
        print("wrote \(json.path); compare with: python3 tools/bench_format_torch.py \(json.path)")
    }

    /// Save (median of `repeats`), open (median of 200), full read (median of `repeats`), size.
    func measure(_ state: FormatBenchState, level: Int32, compress: Bool, folder: URL) throws -> FormatBenchRow {
        var options = MMOWriteOptions()
        options.compressionLevel = level
        options.compress = compress
        options.threads = threads
        options.planeHashLog = planeHashLog == 0 ? nil : planeHashLog
        let url = folder.appendingPathComponent(FormatBenchRow.fileName(level: level, compress: compress))
        var saves: [Double] = [], syncs: [Double] = [], encodes: [Double] = []
        var report: MMOWriteReport?
        for _ in 0..<repeats {
            let start = FormatBenchClock.seconds()
            report = try state.write(to: url, options: options)
            saves.append(FormatBenchClock.seconds() - start)
            syncs.append(report?.syncSeconds ?? 0)
            encodes.append(report?.writeSeconds ?? 0)
        }
        var opens: [Double] = []
        for _ in 0..<200 {
            let start = FormatBenchClock.seconds()
            _ = try MMOReader.open(url)
            opens.append(FormatBenchClock.seconds() - start)
        }
        let reader = try MMOReader.open(url)
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: state.rawBytes, alignment: 64)
        defer { destination.deallocate() }
        var offsets: [Int] = []
        var position = 0
        for blob in reader.blobs {
            offsets.append(position)
            position += blob.length
        }
        func readAll(threads: Int) throws -> Double {
            let start = FormatBenchClock.seconds()
            let failure = FormatBenchFailure()
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                for k in stride(from: worker, to: reader.blobs.count, by: threads) {
                    let blob = reader.blobs[k]
                    do {
                        try reader.read(blob, into: UnsafeMutableRawBufferPointer(rebasing: destination[offsets[k]..<(offsets[k] + blob.length)]))
                    } catch { failure.record(error) }
                }
            }
            if let error = failure.error { throw error }
            return FormatBenchClock.seconds() - start
        }
        _ = try readAll(threads: threads)  // warm the page cache and the decode workspaces
        let reads = try (0..<repeats).map { _ in try readAll(threads: threads) }
        let singleReads = try (0..<repeats).map { _ in try readAll(threads: 1) }
        let verifyStart = FormatBenchClock.seconds()
        try reader.verify(threads: threads)
        let verifySeconds = FormatBenchClock.seconds() - verifyStart
        let raw = Double(state.rawBytes)
        return FormatBenchRow(
            codec: compress ? "zstd \(level)" : "raw", fileBytes: reader.fileLength,
            saveSeconds: FormatBenchClock.median(saves), writeSeconds: FormatBenchClock.median(encodes),
            syncSeconds: FormatBenchClock.median(syncs),
            openMilliseconds: FormatBenchClock.median(opens) * 1e3,
            readGBps: raw / FormatBenchClock.median(reads) / 1e9, readGBpsOneThread: raw / FormatBenchClock.median(singleReads) / 1e9,
            verifySeconds: verifySeconds, codecCounts: Dictionary(uniqueKeysWithValues: (report?.codecCounts ?? [:]).map { ($0.key.rawValue, $0.value) }))
    }
}

/// Thread-safe first error of a parallel loop.
final class FormatBenchFailure: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: Error?
    func record(_ e: Error) {
        lock.lock()
        defer { lock.unlock() }
        if error == nil { error = e }
    }
}

/// Monotonic time and medians for this benchmark.
enum FormatBenchClock {
    static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}

/// One measured configuration.
struct FormatBenchRow: Codable {
    var codec: String
    var fileBytes: Int
    var saveSeconds, writeSeconds, syncSeconds, openMilliseconds, readGBps, readGBpsOneThread, verifySeconds: Double
    var codecCounts: [String: Int]

    static func fileName(level: Int32, compress: Bool) -> String { compress ? "small-zstd\(level).mmo" : "small-raw.mmo" }

    static let header = "codec      file MB   save s (write, fsync)   open ms   read GB/s (1 thread)   verify s"
    var line: String {
        String(
            format: "%-9@ %8.1f   %6.3f (%5.3f, %5.3f)    %7.3f   %6.2f (%4.2f)            %6.3f", codec as NSString,
            Double(fileBytes) / 1e6, saveSeconds, writeSeconds, syncSeconds, openMilliseconds, readGBps, readGBpsOneThread,
            verifySeconds)
    }
}

/// What `format-swift.json` holds.
struct FormatBenchResults: Codable {
    var file: String
    var rawBytes, arrays, threads: Int
    var seed: UInt64
    var rows: [FormatBenchRow]
}

// MARK: - The synthetic `small` joint state

/// Parameters of three `small` classifiers (Hugging Face names, internal `[out, in]` layout)
/// with AdamW moments, filled with realistic-ish values: matrices and embeddings N(0, 0.02²),
/// biases N(0, 0.01²), LayerNorm weights 1 + N(0, 0.01²), LayerNorm biases N(0, 0.01²);
/// m ~ N(0, 0.001²); v = g² with g ~ N(0, 0.001²) (positive, wide exponent spread).
struct FormatBenchState {
    enum Kind { case matrix, bias, normWeight, normBias }

    var arrays: [(name: String, shape: [Int], values: [Float])] = []
    var state = Data()
    var rawBytes = 0

    /// `(name, shape, kind)` of one real `small` model's parameters.
    static func parameters(family: String) throws -> [(String, [Int], Kind)] {
        guard let f = ModelFamily(rawValue: family) else { preconditionFailure("unknown family \(family)") }
        return try ModelBenchConfig.smallSpecs(f).map { spec in
            let kind: Kind
            if spec.kind == .norm {
                kind = spec.role.hasSuffix(".weight") ? .normWeight : .normBias
            } else {
                kind = spec.shape.count > 1 ? .matrix : .bias
            }
            return (spec.name, spec.shape, kind)
        }
    }

    static func small(seed: UInt64) throws -> FormatBenchState {
        var result = FormatBenchState()
        var histories: [String] = []
        for family in ["bert", "gpt2", "roberta"] {
            var rng = PhiloxRNG(seed: seed, stream: "bench/format/\(family)")
            let params = try parameters(family: family)
            func fill(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
                [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    body(buffer.baseAddress!)
                    initialized = count
                }
            }
            for (name, shape, kind) in params {
                let count = shape.reduce(1, *)
                let values = fill(count) { out in
                    switch kind {
                    case .matrix: rng.fillNormal(out, count: count, std: 0.02)
                    case .bias, .normBias: rng.fillNormal(out, count: count, std: 0.01)
                    case .normWeight: rng.fillNormal(out, count: count, mean: 1, std: 0.01)
                    }
                }
                result.arrays.append(("model/\(family)/\(name)", shape, values))
            }
            for (name, shape, _) in params {
                let count = shape.reduce(1, *)
                result.arrays.append(("optim/\(family)/m/\(name)", shape, fill(count) { rng.fillNormal($0, count: count, std: 1e-3) }))
            }
            for (name, shape, _) in params {
                let count = shape.reduce(1, *)
                result.arrays.append(("optim/\(family)/v/\(name)", shape, fill(count) { out in
                    rng.fillNormal(out, count: count, std: 1e-3)
                    for i in 0..<count { out[i] *= out[i] }
                }))
            }
            var losses: [String] = []
            for t in 0..<1000 { losses.append("\(Float(0.7 * exp(-Double(t) / 400)) + 0.01 * rng.normal())") }
            histories.append("\"\(family)\":[\(losses.joined(separator: ","))]")
        }
        result.rawBytes = result.arrays.reduce(0) { $0 + $1.values.count * 4 }
        // A representative state document: progress, RNG streams, optimizer state with loss histories.
        result.state = Data(
            """
            {"format":{"name":"mmo-state","version":1},"producer":{"name":"mmo-bench format"},\
            "progress":{"step":1000,"epoch":2,"microStep":0,"cursor":{"epoch":2,"position":4096}},\
            "rng":{"data":{"key":1234567890123,"counter":99,"used":1}},\
            "optimizer":{"step":1000,"convergenceRates":{"bert":0.97,"gpt2":0.95,"roberta":0.98},\
            "lossHistories":{\(histories.joined(separator: ","))}},"lineage":{"parent":null}}
            """.utf8)
        return result
    }

    /// Writes the state with `options` (arrays are passed without copying).
    func write(to url: URL, options: MMOWriteOptions) throws -> MMOWriteReport {
        var writer = MMOWriter(options: options)
        try writer.setStateDocument(state)
        for array in arrays { try writer.add(array.name, shape: array.shape, floats: array.values) }
        return try writer.write(to: url)
    }
}
