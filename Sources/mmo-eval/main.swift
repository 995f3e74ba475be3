// mmo-eval: accuracy, loss and confusion matrix of the models of a checkpoint and of their
// probability-averaging ensemble, on the run's validation set or on a labelled file.
import ArgumentParser
import Foundation
import MMOAnalysis
import MMOData
import MMORun
import MMOToolSupport

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-eval",
        abstract: "Evaluate the models of a .mmo checkpoint: accuracy, loss, confusion matrix, ensemble.",
        discussion: """
            Examples:
              mmo-eval runs/tiny/last.mmo                 the run's own validation set
              mmo-eval runs/tiny/last.mmo --model bert --json
              mmo-eval runs/sst2/last.mmo --data dev.tsv  a file in a training format
              mmo-eval last.mmo --data test.csv --text-column review --label-column stars
              mmo-eval last.mmo --logits logits.jsonl     a JSON line per example, model

            Without --data the run's validation split is used: regenerated for synthetic \
            data, read and fingerprint-checked for files. With the defaults (the run's batch \
            size and thread count) the accuracies on it are exactly what training recorded \
            in the checkpoint (metrics.lastEval). --data files are read with the run's \
            columns and label list; a row whose label the run does not know is an error \
            naming the row.

            The ensemble averages the models' softmax probabilities (shown with two or more \
            models). Confusion matrices have one row per true label and one column per \
            prediction. The --logits file has the fields model, index, text, input_ids (the \
            ids the model was fed, no padding), label (id), label_name and logits.

            \(exitCodeHelp)
            """)

    @Argument(help: "The checkpoint (.mmo).")
    var file: String

    @Option(name: .long, help: "A labelled file (TSV, CSV or JSONL) to evaluate on instead of the run's validation split.")
    var data: String?

    @Option(name: .long, help: "Format of --data: tsv, csv or jsonl (default: from its extension).")
    var format: TextFileFormat?

    @Option(name: .long, help: "Column (TSV/CSV header) or key (JSONL) of the text in --data (default: the run's).")
    var textColumn: String?

    @Option(name: .long, help: "Column or key of the label in --data (default: the run's).")
    var labelColumn: String?

    @Option(name: .long, help: "Evaluate only this model (repeat for several; the ensemble is over those given).")
    var model: [String] = []

    @Option(name: .long, help: "Examples per forward pass (default: the run's batch size).")
    var batchSize: Int?

    @Option(name: .long, help: "OpenBLAS threads (default: the count the run used).")
    var threads: Int?

    @Option(name: .long, help: "Write per-example logits to this JSONL file.")
    var logits: String?

    @Flag(name: .long, help: "Print the report as JSON on stdout.")
    var json = false

    func validate() throws {
        if data == nil && (format != nil || textColumn != nil || labelColumn != nil) {
            throw ValidationError("--format, --text-column and --label-column describe a --data file; give --data too")
        }
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: file) else {
            throw ToolError("\(file): no such file; give the path of a .mmo checkpoint (e.g. runs/<run>/last.mmo)")
        }
        let checkpoint = try Checkpoint.open(URL(fileURLWithPath: file))
        let dataset: LabeledDataset
        let description: String
        if let data {
            dataset = try EvaluationData.file(data, for: checkpoint, format: format, textColumn: textColumn, labelColumn: labelColumn)
            description = data
        } else {
            dataset = try EvaluationData.validation(of: checkpoint)
            description = "validation split of the run (\(checkpoint.state.run.data.validation ?? "synthetic"))"
        }
        let options = EvaluationOptions(
            models: model, batchSize: batchSize, threads: threads, logitsURL: logits.map { URL(fileURLWithPath: $0) })
        let modelCount = model.isEmpty ? checkpoint.state.models.count : model.count
        // Only large sets get a progress line: small ones finish before it would be readable.
        let progress = dataset.count * modelCount >= 2000 ? TerminalProgress("evaluating", total: dataset.count * modelCount) : nil
        let report = try CheckpointEvaluator.evaluate(checkpoint, on: dataset, dataDescription: description, options: options) { done, _ in
            progress?.update(done)
        }
        progress?.finish()
        if json { return try printJSON(report) }
        print(text(report))
    }

    func text(_ r: EvaluationReport) -> String {
        var out = ["\(r.checkpoint) (step \(r.step)) on \(r.data): \(r.count) examples, batch \(r.batchSize), \(r.threads) BLAS thread(s)", ""]
        if r.models.contains(where: { $0.perplexity != nil }) {
            // Language models: perplexity, loss and accuracy per predicted token, no labels.
            var rows = [["model", "family", "perplexity", "loss", "token accuracy", "tokens"]]
            for s in r.models {
                rows.append([
                    s.name, s.family?.rawValue ?? "", String(format: "%.2f", s.perplexity ?? .nan), String(format: "%.4f", s.loss),
                    String(format: "%.4f", s.accuracy), "\(s.tokens ?? 0)",
                ])
            }
            out.append(textTable(rows))
            return out.joined(separator: "\n")
        }
        var rows = [["model", "family", "accuracy", "loss"]]
        for s in r.models + (r.ensemble.map { [$0] } ?? []) {
            rows.append([s.name, s.family?.rawValue ?? "mean of \(r.ensembleMembers.count)", String(format: "%.4f", s.accuracy), String(format: "%.4f", s.loss)])
        }
        out.append(textTable(rows))
        out.append("")
        out.append("confusion matrices (rows: true label, columns: predicted)")
        for s in r.models + (r.ensemble.map { [$0] } ?? []) {
            var table = [["\(s.name): true \\ predicted"] + r.labels]
            for (i, row) in s.confusion.enumerated() { table.append([r.labels[i]] + row.map(String.init)) }
            out.append(textTable(table).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        if let f = r.logitsFile { out.append("\nlogits: \(f) (\(r.count * r.models.count) rows)") }
        return out.joined(separator: "\n")
    }
}

extension TextFileFormat: ExpressibleByArgument {}

Eval.runTool()
