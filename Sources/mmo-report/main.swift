// mmo-report: one self-contained HTML page (inline SVG) of a run folder, or of a folder of run
// folders (variants × seeds): summary tables, loss and accuracy curves, learning rates, gradient
// similarity, parameter convergence and a PCA of the attention weights over the checkpoints.
import ArgumentParser
import Foundation
import MMOOptim
import MMOReport
import MMOToolSupport

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-report",
        abstract: "Write an HTML report (inline SVG, no scripts, opens from disk) of a run or of an experiment.",
        discussion: """
            Examples:
              mmo-report runs/tiny-20261130-101500   writes runs/tiny-…/report.html
              mmo-report runs/ablation -o ablation.html   all run folders inside
              mmo-report runs/a --metrics-only      no checkpoint read (faster)

            A run folder (it holds metrics.jsonl): a summary (models, sizes,
            settings, final and best accuracies), training loss per step with a
            smoothed line, validation accuracy, each model's effective learning
            rate (paper Fig. 6), the per-kind gradient cosine between models when
            the run logged it (optimizer.logGradientSimilarity, Fig. 4), the
            parameter distance and cosine between models at every step-NNNNNN.mmo
            (Fig. 5) and a 2-D PCA of each model's attention weights over those
            checkpoints. Keep more checkpoints (training.keepLast) for longer
            series.
            A folder of run folders: runs are grouped by name up to a last -seedN
            (name-seed42, name-seed43 → name); per model, each variant's mean
            curve with a min–max band over its runs.
            The page is one file: inline SVG and style, no script, nothing fetched.

            \(exitCodeHelp)
            """)

    @Argument(help: "A run folder of mmo-train, or a folder whose sub-folders are run folders.")
    var folder: String

    @Option(name: [.short, .customLong("output")], help: "The HTML file to write (default: FOLDER/report.html).")
    var output: String?

    @Option(name: .long, help: "Grouping for the parameter comparison: paper (kind, shape), role (role, shape), layer (role, block, shape).")
    var granularity: SharingGranularity = .paper

    @Option(name: .long, help: "Smoothing window in steps for the loss and similarity curves (default: about a twentieth of the run, 1 to 50).")
    var smooth: Int?

    @Flag(name: .long, help: "Read metrics.jsonl and config.json only (no checkpoint: no parameter distance, no PCA).")
    var metricsOnly = false

    func validate() throws {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
            throw ValidationError("\(folder): no such folder")
        }
        if !isDirectory.boolValue { throw ValidationError("\(folder): not a folder; give a run folder of mmo-train or a folder of run folders") }
        if let smooth, smooth < 1 { throw ValidationError("--smooth must be at least 1") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: folder)
        var bar: TerminalProgress?
        var label = ""
        let page: ReportPage
        do {
            page = try ReportBuilder.build(
                folder: url, options: ReportOptions(granularity: granularity, checkpoints: !metricsOnly, smoothing: smooth)
            ) { what, done, total in
                if what != label {
                    bar?.finish()
                    bar = TerminalProgress(what, total: total)
                    label = what
                }
                bar?.update(done)
            }
        } catch let error as ReportError {
            throw ToolError(error.description)
        }
        bar?.finish()
        let destination = output ?? url.appendingPathComponent("report.html").path
        do {
            try HTMLReport.render(page).write(toFile: destination, atomically: true, encoding: .utf8)
        } catch {
            throw ToolError("\(destination): cannot write the report (\((error as NSError).localizedDescription))")
        }
        print("report: \(destination)")
    }
}

extension SharingGranularity: ExpressibleByArgument {}

Report.runTool()
