// Turns a run's data section into training and validation sets, the tokenizer, and one encoded
// copy per special-token scheme, checked against what a checkpoint recorded.
import MMOData
import MMOModels

/// The datasets of a run, loaded and encoded.
public struct PreparedData {
    /// The training split.
    public var train: LabeledDataset
    /// The validation split.
    public var validation: LabeledDataset
    /// The run's tokenizer (built from the training split, or the saved one).
    public var tokenizer: WordTokenizer

    /// Loads the data of `config`. `tokenizer` and `labels` come from a checkpoint on resume.
    public static func load(_ config: RunConfig, tokenizer: WordTokenizer? = nil, labels: [String]? = nil) throws -> PreparedData {
        let data = config.data
        var train: LabeledDataset
        var validation: LabeledDataset
        switch data.source {
        case .synthetic:
            train = SyntheticSentiment.make(count: data.syntheticTrain, seed: config.seed, stream: "data/synthetic/train")
            validation = SyntheticSentiment.make(
                count: data.syntheticValidation, seed: config.seed, stream: "data/synthetic/validation")
        case .files:
            guard let trainPath = data.train, let validationPath = data.validation else {
                throw DataError.invalidOption(field: "data.train", reason: "both data.train and data.validation are required")
            }
            func options(_ path: String) throws -> TextFileOptions {
                guard let format = data.format ?? TextFileOptions.format(forPath: path) else {
                    throw DataError.invalidOption(field: "data.format", reason: "cannot infer the format of \(path); set tsv, csv or jsonl")
                }
                return TextFileOptions(format: format, textColumn: data.textColumn, labelColumn: data.labelColumn)
            }
            if config.isLanguageModeling {
                // Pretraining reads the text column only: no labels needed.
                train = try DatasetLoader.loadTexts(path: trainPath, options: options(trainPath))
                validation = try DatasetLoader.loadTexts(path: validationPath, options: options(validationPath))
            } else {
                let drop = Set(data.dropLabels ?? [])
                train = try DatasetLoader.load(path: trainPath, options: options(trainPath), labels: labels ?? data.labels, dropping: drop)
                validation = try DatasetLoader.load(
                    path: validationPath, options: options(validationPath), labels: train.labelNames, dropping: drop)
            }
        }
        if config.isLanguageModeling {
            // The synthetic sentences' labels are dropped too: a pretraining run has none.
            train.labelNames = []
            validation.labelNames = []
        } else if train.labelNames.count < 2 {
            throw DataError.invalidOption(field: "data.labels", reason: "a classifier needs at least 2 classes, the data has \(train.labelNames)")
        }
        let tok = try tokenizer
            ?? WordTokenizer(
                training: train.examples.map(\.text), vocabularyLimit: data.vocabularyLimit, lowercase: data.lowercase,
                maxLength: data.maxLength)
        return PreparedData(train: train, validation: validation, tokenizer: tok)
    }

    /// Model architectures (with each model's objective) for `config`'s models over this data.
    public func modelConfigs(_ config: RunConfig) -> [ModelConfig] {
        config.models.enumerated().map { i, entry in
            entry.modelConfig(
                vocabularySize: tokenizer.vocabularySize, numLabels: train.labelNames.count, maxLength: config.data.maxLength,
                objective: config.objective(ofModel: i))
        }
    }
}
