// mmo-inspect: what a checkpoint holds. Reads header, index and state document only (unless
// --stats or --verify), so it answers in milliseconds on any checkpoint.
import ArgumentParser
import Foundation
import MMOAnalysis
import MMOCore
import MMOFormat
import MMORun
import MMOToolSupport

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-inspect",
        abstract: "Show what a .mmo checkpoint holds: models, training state, tensors, sizes, statistics.",
        discussion: """
            Examples:
              mmo-inspect runs/tiny/last.mmo                       summary: models, step, learning rates, sizes
              mmo-inspect runs/tiny/last.mmo --tensors --model bert --kind attention --stats
              mmo-inspect runs/tiny/step-000010.mmo --verify       decode every blob, check every checksum
              mmo-inspect runs/tiny/last.mmo --json | jq .models

            Without --stats or --verify only the header, the index and the state document are read.
            Files of other producers (any valid .mmo) are shown as containers: blobs and state document.

            \(exitCodeHelp)
            """)

    @Argument(help: "The checkpoint (.mmo).")
    var file: String

    @Flag(name: .long, help: "One row per blob: name, model, kind/role, shape, dtype, codec, filter, stored and raw bytes.")
    var tensors = false

    @Flag(name: .long, help: "Add mean, std, min, max, L2 norm and NaN/Inf counts per tensor (decodes the blobs; implies --tensors).")
    var stats = false

    @Option(name: .long, help: "Only blobs of this model.")
    var model: String?

    @Option(name: .long, help: "Only parameters of this kind: embedding, attention, ffn, norm, head.")
    var kind: ParameterKind?

    @Flag(name: .long, help: "Print the state document (JSON) and nothing else.")
    var state = false

    @Flag(name: .long, help: "Decode every blob and check every checksum and padding byte; exit 1 naming each bad blob.")
    var verify = false

    @Flag(name: .long, help: "Print the result as JSON on stdout.")
    var json = false

    func run() throws {
        let url = URL(fileURLWithPath: file)
        guard FileManager.default.fileExists(atPath: file) else {
            throw ToolError("\(file): no such file; give the path of a .mmo checkpoint (e.g. runs/<run>/last.mmo)")
        }
        if verify { return try runVerify(url) }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.open(url)
        } catch let error as TrainingError {
            // Not a training checkpoint of this producer, but perhaps a valid container.
            guard let reader = try? MMOReader.open(url) else { throw ToolError("\(error)") }
            return try runContainer(reader, note: "\(error)")
        }
        if state {
            print(String(decoding: try checkpoint.reader.stateDocument(), as: UTF8.self))
            return
        }
        if tensors || stats || model != nil || kind != nil {
            var rows = try Inspector.tensors(checkpoint, model: model, kind: kind)
            if stats {
                let progress = TerminalProgress("decoding", total: rows.count)
                try Inspector.addStats(to: &rows, reader: checkpoint.reader) { done, _ in progress.update(done) }
                progress.finish()
            }
            if json { return try printJSON(rows) }
            print(tensorTable(rows))
            return
        }
        let summary = Inspector.summary(checkpoint)
        if json { return try printJSON(summary) }
        print(text(summary))
    }

    func runVerify(_ url: URL) throws {
        let reader: MMOReader
        do {
            reader = try MMOReader.open(url)
        } catch {
            // A file that does not even open fails the check: say why, exit 1.
            if json { try printJSON(["verified": .bool(false), "problems": .strings(["\(error)"])] as [String: AnyCodable]) }
            throw CheckFailed("\(error)")
        }
        let progress = TerminalProgress("verifying", total: reader.blobs.count)
        let problems = Inspector.verify(reader) { done, _ in progress.update(done) }
        progress.finish()
        if json {
            try printJSON(["verified": .bool(problems.isEmpty), "blobs": .int(reader.blobs.count), "problems": .strings(problems)] as [String: AnyCodable])
        } else if problems.isEmpty {
            print("\(file): verified: \(reader.blobs.count) blobs and the state document decode, every checksum and padding byte is right")
        } else {
            for p in problems { print("damaged: \(p)") }
        }
        if !problems.isEmpty { throw CheckFailed("\(file): \(problems.count) damaged part(s); the file cannot be trusted (restore it or use an earlier checkpoint)") }
    }

    func runContainer(_ reader: MMOReader, note: String) throws {
        if state {
            print(String(decoding: try reader.stateDocument(), as: UTF8.self))
            return
        }
        if json {
            let blobs = reader.blobs.map { b -> [String: AnyCodable] in
                ["name": .string(b.name), "dtype": .string(b.dtype.rawValue), "shape": .ints(b.shape), "codec": .string(b.codec.rawValue),
                 "filter": .string(b.filter.rawValue), "storedBytes": .int(b.storedLength), "rawBytes": .int(b.length)]
            }
            return try printJSON(["container": .bool(true), "note": .string(note), "contentHash": .string(reader.contentHashHex), "blobs": .objects(blobs)] as [String: AnyCodable])
        }
        print("\(file): a valid .mmo \(reader.majorVersion).\(reader.minorVersion) container, not a training checkpoint of this producer")
        print("  (\(note))")
        print("content hash \(reader.contentHashHex), \(byteCount(reader.fileLength)), \(reader.blobs.count) blobs\n")
        var rows = [["blob", "dtype", "shape", "codec", "filter", "stored", "raw"]]
        for b in reader.blobs {
            rows.append([b.name, b.dtype.rawValue, "\(b.shape)", b.codec.rawValue, b.filter.rawValue, "\(b.storedLength)", "\(b.length)"])
        }
        print(textTable(rows))
    }

    func text(_ s: CheckpointSummary) -> String {
        var out: [String] = []
        out.append("\(s.path)")
        out.append("  format .mmo \(s.formatVersion), \(s.stateConvention), written by \(s.producer); content hash \(s.contentHash); \(byteCount(s.fileBytes))")
        out.append("  run '\(s.runName)', seed \(s.seed), \(s.threads) BLAS thread(s); data \(s.data): \(s.trainCount) train / \(s.validationCount) validation, labels \(s.labels.joined(separator: ", "))")
        out.append("  step \(s.step) of \(s.totalSteps), epoch \(s.epoch), micro-step \(s.microStep), \(s.examplesSeen) examples seen per model")
        out.append("")
        var rows = [["model", "family", "weight", "params", "hidden/layers/heads/ffn", "lr (last step)", "conv. rate", "skips", "moments", "last eval acc/loss", "best acc @ step"]]
        for m in s.models {
            let c = m.config
            rows.append([
                m.name, m.family.rawValue, String(format: "%.2f", m.weight), "\(m.parameterCount)",
                "\(c.hiddenSize)/\(c.numLayers)/\(c.numHeads)/\(c.intermediateSize)", String(format: "%.3e", m.learningRate),
                String(format: "%.4f", m.convergenceRate), "\(m.consecutiveSkips)/\(m.totalSkips)", m.hasMoments ? "yes" : "no",
                m.lastEval.map { String(format: "%.4f / %.4f", $0.accuracy, $0.loss) } ?? "-",
                m.best.map { String(format: "%.4f @ %d", $0.accuracy, $0.step) } ?? "-",
            ])
        }
        out.append(textTable(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        for m in s.models {
            if let i = m.initialization {
                out.append("  \(m.name) initialised from \(i.source): \(i.loaded.count) tensors loaded, \(i.newlyInitialized.count) new (\(i.newlyInitialized.joined(separator: ", "))), \(i.ignored.count) ignored")
            }
        }
        out.append("")
        var bytes = [["group", "blobs", "raw", "stored", "ratio"]]
        for g in s.bytes {
            bytes.append([g.group, "\(g.blobs)", byteCount(g.rawBytes), byteCount(g.storedBytes), String(format: "%.3f", g.ratio)])
        }
        out.append(textTable(bytes).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        out.append("")
        if let op = s.lineage.operation { out.append("  made by: \(op)") }
        if let parents = s.lineage.parents {
            for p in parents { out.append("  parent: \(p.path) (content hash \(p.contentHash))") }
        } else if let parent = s.lineage.parent {
            out.append("  parent: \(parent.path) (content hash \(parent.contentHash))")
        } else {
            out.append("  parent: none (first save of a fresh run)")
        }
        return out.joined(separator: "\n")
    }

    func tensorTable(_ rows: [TensorRow]) -> String {
        let withStats = rows.contains { $0.stats != nil }
        var table = [["blob", "kind/role", "block", "shape", "dtype", "codec", "filter", "stored", "raw"]]
        if withStats { table[0] += ["mean", "std", "min", "max", "l2", "nan", "inf"] }
        for r in rows {
            var row = [
                r.name, r.kind.map { "\($0.rawValue)/\(r.role ?? "?")" } ?? "-", r.block.map(String.init) ?? "-",
                r.shape.map(String.init).joined(separator: "x"), r.dtype, r.codec, r.filter, "\(r.storedBytes)", "\(r.rawBytes)",
            ]
            if withStats {
                if let s = r.stats {
                    row += [s.mean, s.std, s.min, s.max, s.l2].map { String(format: "%.4g", $0) } + ["\(s.nan)", "\(s.inf)"]
                } else {
                    row += Array(repeating: "-", count: 7)
                }
            }
            table.append(row)
        }
        let stored = rows.reduce(0) { $0 + $1.storedBytes }, raw = rows.reduce(0) { $0 + $1.rawBytes }
        return textTable(table) + "\n\(rows.count) blobs, \(byteCount(raw)) raw, \(byteCount(stored)) stored"
    }
}

extension ParameterKind: ExpressibleByArgument {}

/// A small JSON value for ad-hoc `--json` objects.
enum AnyCodable: Encodable {
    case bool(Bool), int(Int), string(String), strings([String]), ints([Int]), objects([[String: AnyCodable]])
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .bool(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .strings(let v): try c.encode(v)
        case .ints(let v): try c.encode(v)
        case .objects(let v): try c.encode(v)
        }
    }
}

Inspect.runTool()
