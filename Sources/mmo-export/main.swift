// mmo-export: one model of a checkpoint as a Hugging Face folder (safetensors + config.json +
// tokenizer files) that transformers loads with AutoModelForSequenceClassification / AutoTokenizer.
import ArgumentParser
import Foundation
import MMOAnalysis
import MMORun
import MMOToolSupport

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-export",
        abstract: "Export a model of a .mmo checkpoint as a Hugging Face folder (safetensors, config.json, tokenizer).",
        discussion: """
            Examples:
              mmo-export runs/tiny/last.mmo --model bert -o export/bert
              mmo-export runs/tiny/best-gpt2.mmo --model gpt2 -o export/gpt2 --force --json

            Then, in Python:
              from transformers import AutoModelForSequenceClassification, AutoTokenizer
              model = AutoModelForSequenceClassification.from_pretrained("export/bert")
              tokenizer = AutoTokenizer.from_pretrained("export/bert")
              batch = tokenizer(["a fine film"], truncation=True, return_tensors="pt")
              model(**batch).logits

            Files: model.safetensors (transformers names and layout, f32; GPT-2 with fused \
            c_attn and Conv1D [in, out] weights), config.json (architecture, id2label / \
            label2id, pad_token_id), tokenizer.json (WordLevel over the run's vocabulary, \
            the run's lowercasing, white space + punctuation/symbol split, the family's \
            special tokens, truncation to the run's maxLength), tokenizer_config.json, \
            special_tokens_map.json. Logits match mmo-eval's within float rounding on the \
            same input_ids (tools/check_export.py checks it with PyTorch).

            Where the tokenizers can differ: \(HFTokenizerExport.differences)

            \(exitCodeHelp)
            """)

    @Argument(help: "The checkpoint (.mmo).")
    var file: String

    @Option(name: .long, help: "The model to export (a name from the checkpoint; mmo-inspect lists them).")
    var model: String

    @Option(name: [.short, .customLong("output")], help: "The folder to write (created; must be empty unless --force).")
    var output: String

    @Flag(name: .long, help: "Write into a non-empty folder, replacing the export's files there.")
    var force = false

    @Flag(name: .long, help: "Print what was written as JSON on stdout.")
    var json = false

    func run() throws {
        guard FileManager.default.fileExists(atPath: file) else {
            throw ToolError("\(file): no such file; give the path of a .mmo checkpoint (e.g. runs/<run>/last.mmo)")
        }
        let checkpoint = try Checkpoint.open(URL(fileURLWithPath: file))
        let report = try ModelExport.export(checkpoint, model: model, to: URL(fileURLWithPath: output), force: force)
        if json { return try printJSON(report) }
        print("\(report.checkpoint) (step \(report.step)): model '\(report.model)' → \(report.directory) as \(report.architecture)")
        print("  \(report.tensors) tensors, \(report.parameters) parameters; tokenizer: \(report.vocabularySize) ids, maxLength \(report.maxLength)\(report.lowercase ? ", lowercased" : "")")
        print(textTable([["file", "bytes"]] + report.files.map { [$0.name, "\($0.bytes)"] }).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    }
}

Export.runTool()
