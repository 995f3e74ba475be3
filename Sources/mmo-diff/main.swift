// mmo-diff: parameter drift between two checkpoints, exact identity, and convergence between the
// models of one checkpoint (or of every checkpoint of a run).
import ArgumentParser
import Foundation
import MMOAnalysis
import MMOFormat
import MMOOptim
import MMORun
import MMOToolSupport

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-diff",
        abstract: "Compare checkpoints: parameter drift, exact identity, or cross-model convergence.",
        discussion: """
            Examples:
              mmo-diff runs/a/step-000010.mmo runs/a/step-000020.mmo      drift per tensor, model, kind, block
              mmo-diff --exact resumed/last.mmo straight/last.mmo --ignore lineage
              mmo-diff --cross-model runs/a/last.mmo --granularity role    the models' similarity per key
              mmo-diff --series runs/a --csv convergence.csv                the same over every step file

            Drift: per tensor present in both files (matched by model and parameter name), the relative
            L2 difference ‖b − a‖/‖a‖, the cosine similarity and the largest absolute difference; then
            aggregated per model, kind and block, largest drift first. Works across runs when names match.
            --exact exits 0 only when every blob and the state document are identical (checksums first,
            decoding only blobs whose checksums differ); --ignore KEY leaves a top-level state key out,
            and the output says so.
            Cross-model: for every compatibility key at the granularity (the optimizer's own grouping),
            cosine and relative distance ‖a − b‖/(‖a‖ + ‖b‖) between each pair of models.

            \(exitCodeHelp)
            """)

    @Argument(help: "Two checkpoints (A B); one with --cross-model; none with --series.")
    var files: [String] = []

    @Flag(name: .long, help: "Exit 0 exactly when every blob and the state document are identical, else list differences and exit 1.")
    var exact = false

    @Option(name: .long, help: "With --exact: leave this top-level state-document key out of the comparison (repeatable), e.g. lineage.")
    var ignore: [String] = []

    @Flag(name: .long, help: "Also compare the AdamW moments (optim/…), not only parameters.")
    var moments = false

    @Flag(name: .long, help: "Compare the models inside one checkpoint per compatibility key (paper §7.2).")
    var crossModel = false

    @Option(name: .long, help: "A run folder: --cross-model for every step-NNNNNN.mmo in it, over steps.")
    var series: String?

    @Option(name: .long, help: "Grouping for --cross-model/--series: paper (kind, shape), role (role, shape), layer (role, block, shape).")
    var granularity: SharingGranularity = .paper

    @Option(name: .long, help: "With --series: write the series as CSV to this file.")
    var csv: String?

    @Option(name: .long, help: "Rows of each table to print (0: all).")
    var top = 15

    @Flag(name: .long, help: "Print the result as JSON on stdout.")
    var json = false

    func validate() throws {
        if let series {
            if !files.isEmpty { throw ValidationError("--series takes a run folder and no file arguments") }
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: series, isDirectory: &isDirectory) || !isDirectory.boolValue {
                throw ValidationError("--series \(series): not a folder; give a run folder of mmo-train")
            }
            return
        }
        if crossModel {
            if files.count != 1 { throw ValidationError("--cross-model takes exactly one checkpoint, got \(files.count)") }
        } else if files.count != 2 {
            throw ValidationError("give two checkpoints to compare (A B), got \(files.count); or --cross-model FILE, or --series RUN_DIR")
        }
        if csv != nil && series == nil { throw ValidationError("--csv needs --series") }
        if !ignore.isEmpty && !exact { throw ValidationError("--ignore applies to --exact only") }
        if top < 0 { throw ValidationError("--top must be 0 or positive") }
        for f in files where !FileManager.default.fileExists(atPath: f) {
            throw ValidationError("\(f): no such file")
        }
    }

    func run() throws {
        if let series { return try runSeries(series) }
        if crossModel { return try runCrossModel(files[0]) }
        if exact { return try runExact() }
        let a = try open(files[0]), b = try open(files[1])
        let progress = TerminalProgress("comparing", total: a.reader.blobs.count)
        let report = try Differ.drift(a, b, moments: moments) { done, _ in progress.update(done) }
        progress.finish()
        if json { return try printJSON(report) }
        print("A \(report.a) (step \(report.stepA))\nB \(report.b) (step \(report.stepB))\ncompared: \(report.groups.joined(separator: ", ")), \(report.tensors.count) tensors\n")
        func table(_ title: String, _ rows: [DriftAggregate]) {
            var t = [[title, "tensors", "elements", "rel. L2", "cosine", "max |Δ|"]]
            for r in limit(rows) {
                t.append([r.key, "\(r.tensors)", "\(r.count)", format(r.relativeL2), format(r.cosine), format(r.maxAbs)])
            }
            print(textTable(t) + more(rows.count) + "\n")
        }
        table("model", report.perModel)
        table("model/kind", report.perKind)
        table("model/block", report.perBlock)
        var t = [["tensor (largest drift first)", "kind", "block", "elements", "rel. L2", "cosine", "max |Δ|"]]
        for r in limit(report.tensors) {
            t.append([r.name, r.kind?.rawValue ?? "-", r.block.map(String.init) ?? "-", "\(r.count)", format(r.relativeL2), format(r.cosine), format(r.maxAbs)])
        }
        print(textTable(t) + more(report.tensors.count))
        for name in report.onlyInA { print("only in A: \(name)") }
        for name in report.onlyInB { print("only in B: \(name)") }
        for name in report.mismatched { print("not compared (dtype/shape differ): \(name)") }
    }

    func runExact() throws {
        let a = try reader(files[0]), b = try reader(files[1])
        let progress = TerminalProgress("comparing", total: a.blobs.count)
        let report = try Differ.exact(a, b, excluding: Set(ignore)) { done, _ in progress.update(done) }
        progress.finish()
        if json {
            try printJSON(report)
        } else {
            let note = report.excluded.isEmpty ? "" : " (state keys excluded: \(report.excluded.joined(separator: ", ")))"
            if report.identical {
                print("identical: \(report.blobsCompared) blobs and the state document\(note)")
            } else {
                for n in report.onlyInA { print("only in A: \(n)") }
                for n in report.onlyInB { print("only in B: \(n)") }
                for d in report.differingBlobs { print("blob \(d)") }
                for d in report.differingState { print("state \(d)") }
                print("differ\(note)")
            }
        }
        if !report.identical { throw CheckFailed() }
    }

    func runCrossModel(_ file: String) throws {
        let checkpoint = try open(file)
        let report = try Differ.crossModel(checkpoint, granularity: granularity)
        if json { return try printJSON(report) }
        print("\(report.path) (step \(report.step)), granularity \(report.granularity.rawValue)\n")
        var k = [["kind", "models", "tensors", "cosine", "rel. distance"]]
        for p in report.perKind { k.append([p.kind.rawValue, "\(p.modelA) ~ \(p.modelB)", "\(p.tensors)", format(p.cosine), format(p.relativeDistance)]) }
        print(textTable(k) + "\n")
        var t = [["key", "models", "tensors", "cosine", "rel. distance"]]
        for p in limit(report.pairs) { t.append([p.key, "\(p.modelA) ~ \(p.modelB)", "\(p.tensors)", format(p.cosine), format(p.relativeDistance)]) }
        print(textTable(t) + more(report.pairs.count))
        if report.pairs.isEmpty { print("no compatibility key is shared by two models at granularity \(granularity.rawValue)") }
    }

    func runSeries(_ folder: String) throws {
        let count = RunDirectory(url: URL(fileURLWithPath: folder)).stepCheckpoints().count
        let progress = TerminalProgress("checkpoints", total: count)
        let series: [CrossModelReport]
        do {
            series = try Differ.crossModelSeries(run: URL(fileURLWithPath: folder), granularity: granularity) { done, _ in progress.update(done) }
        } catch let error as TrainingError {
            throw ToolError("\(error)")
        }
        progress.finish()
        if let csv {
            do {
                try Differ.csv(series).write(toFile: csv, atomically: true, encoding: .utf8)
            } catch {
                throw ToolError("\(csv): cannot write the CSV (\((error as NSError).localizedDescription))")
            }
        }
        if json { return try printJSON(series) }
        var t = [["step", "kind", "models", "cosine", "rel. distance"]]
        for r in series {
            for p in r.perKind { t.append(["\(r.step)", p.kind.rawValue, "\(p.modelA) ~ \(p.modelB)", format(p.cosine), format(p.relativeDistance)]) }
        }
        print(textTable(t))
        if let csv { print("per-key series written to \(csv)") }
    }

    func open(_ path: String) throws -> Checkpoint {
        do { return try Checkpoint.open(URL(fileURLWithPath: path)) } catch { throw ToolError("\(error)") }
    }

    func reader(_ path: String) throws -> MMOReader {
        do { return try MMOReader.open(URL(fileURLWithPath: path)) } catch { throw ToolError("\(error)") }
    }

    func limit<T>(_ rows: [T]) -> ArraySlice<T> { top == 0 ? rows[...] : rows.prefix(top) }
    func more(_ count: Int) -> String { top > 0 && count > top ? "\n… \(count - top) more (--top 0 for all)" : "" }
    func format(_ x: Double) -> String { String(format: "%.6g", x) }
}

extension SharingGranularity: ExpressibleByArgument {}

Diff.runTool()
