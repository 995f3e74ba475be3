// The examples a tool evaluates a checkpoint on: the run's own validation set (regenerated for
// synthetic data, read and fingerprint-checked for files) or a file the user names, read with
// the run's columns and label list; and their encoding for one model.
import Foundation
import MMOData
import MMORun

/// Where evaluation examples come from.
public enum EvaluationData {
    /// The validation split the run of `checkpoint` evaluated on. Synthetic data is regenerated
    /// from the run seed; files are read and must have the fingerprint the checkpoint recorded.
    public static func validation(of checkpoint: Checkpoint) throws -> LabeledDataset {
        let state = checkpoint.state
        let data = try PreparedData.load(state.run, tokenizer: state.tokenizer, labels: state.data.labelNames)
        if let saved = state.data.fingerprint["validation"], saved != data.validation.fingerprint {
            throw TrainingError.checkpoint(
                path: checkpoint.path,
                reason: "the run's validation data (\(state.run.data.validation ?? "synthetic")) is not what this checkpoint was trained with (fingerprint \(data.validation.fingerprint), recorded \(saved)); restore the original file or pass --data")
        }
        return data.validation
    }

    /// Examples of `path` (TSV / CSV / JSONL, by extension unless `format` is given), with the
    /// run's text and label columns unless overridden, labelled with the run's label list: a label
    /// the run does not know is an error naming the row (rows of the run's `data.dropLabels` are
    /// left out).
    public static func file(
        _ path: String, for checkpoint: Checkpoint, format: TextFileFormat? = nil, textColumn: String? = nil,
        labelColumn: String? = nil
    ) throws -> LabeledDataset {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError.invalidOption(field: "--data", reason: "\(path): no such file")
        }
        guard let format = format ?? TextFileOptions.format(forPath: path) else {
            throw DataError.invalidOption(field: "--format", reason: "cannot tell the format of \(path) from its extension; give --format tsv, csv or jsonl")
        }
        let run = checkpoint.state.run.data
        let options = TextFileOptions(format: format, textColumn: textColumn ?? run.textColumn, labelColumn: labelColumn ?? run.labelColumn)
        // The run's raw label values in class order: the configured list, else the names the run
        // recorded (inferred from its training file, so the same raw values).
        // A pretraining run reads texts only.
        if checkpoint.state.run.isLanguageModeling { return try DatasetLoader.loadTexts(path: path, options: options) }
        let labels = run.labels ?? checkpoint.state.data.labelNames
        // Rows of a label the run dropped (`data.dropLabels`) are left out here too.
        return try DatasetLoader.load(path: path, options: options, labels: labels, dropping: Set(run.dropLabels ?? []))
    }

    /// `dataset` encoded for model `record` of `checkpoint` with the model's tokenizer (its own,
    /// or the run's with the family's special tokens) and padding, as training encoded it.
    public static func encoded(_ dataset: LabeledDataset, for record: CheckpointState.ModelRecord, of checkpoint: Checkpoint) -> EncodedDataset {
        let run = checkpoint.state.run.data
        return EncodedDataset(
            dataset, tokenizer: checkpoint.state.tokenizer(of: record), padID: Int32(record.config.padTokenID),
            fixedLength: run.padding == .max ? run.maxLength : nil)
    }
}
