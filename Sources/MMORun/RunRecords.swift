// Small records of a run that live in checkpoints and in metrics.jsonl: where the run stands,
// evaluation results, best accuracies, and the lines of the metrics file.
import MMOData

/// Where a run stands.
public struct TrainingProgress: Codable, Hashable, Sendable {
    /// Optimizer steps completed.
    public var step: Int = 0
    /// Total optimizer steps of the run (the cosine schedule's length).
    public var totalSteps: Int
    /// The next micro-batch.
    public var cursor = DataCursor()
    /// Training examples consumed (per model).
    public var examplesSeen: Int = 0

    /// A run at step 0 of `totalSteps`.
    public init(totalSteps: Int) { self.totalSteps = totalSteps }
}

/// Accuracy and mean loss of one model on one dataset.
public struct EvalResult: Codable, Hashable, Sendable {
    /// Classification: fraction of examples whose arg-max logit is the label. Language model:
    /// fraction of predicted tokens whose arg-max logit is the target (masked-token / next-token
    /// accuracy, as `run_mlm.py` reports it).
    public var accuracy: Double
    /// Mean cross-entropy (language model: over predicted tokens, `log(perplexity)`).
    public var loss: Double
    /// Examples evaluated.
    public var count: Int
    /// Language model: `exp(loss)`; nil (absent from JSON) for a classifier.
    public var perplexity: Double?
    /// Language model: tokens predicted (masked or next-token positions); nil for a classifier.
    public var tokens: Int?

    /// A result (classifier: no perplexity, no tokens).
    public init(accuracy: Double, loss: Double, count: Int, perplexity: Double? = nil, tokens: Int? = nil) {
        self.accuracy = accuracy
        self.loss = loss
        self.count = count
        self.perplexity = perplexity
        self.tokens = tokens
    }

    /// Whether this is a language model's result (it has a perplexity).
    public var isLanguageModel: Bool { perplexity != nil }

    /// `acc 0.912 loss 0.2345` for a classifier, `ppl 123.4 loss 4.8155 tok-acc 0.152` for a
    /// language model (whose accuracy is per token, not per example).
    public var summary: String {
        if let perplexity {
            return String(format: "ppl %.2f loss %.4f tok-acc %.3f", perplexity, loss, accuracy)
        }
        return String(format: "acc %.3f loss %.4f", accuracy, loss)
    }

    /// Whether this result beats `other` as a "best" checkpoint: higher accuracy for a
    /// classifier, lower loss (perplexity) for a language model.
    public func isBetter(than other: BestRecord?) -> Bool {
        guard let other else { return true }
        return isLanguageModel ? loss < other.loss : accuracy > other.accuracy
    }
}

/// Best validation accuracy of a model and when it happened.
public struct BestRecord: Codable, Hashable, Sendable {
    /// The best accuracy so far.
    public var accuracy: Double
    /// The loss at that evaluation.
    public var loss: Double
    /// The optimizer step of that evaluation.
    public var step: Int

    /// A record.
    public init(accuracy: Double, loss: Double, step: Int) {
        self.accuracy = accuracy
        self.loss = loss
        self.step = step
    }
}

/// One `metrics.jsonl` line for a step (`"type": "step"`).
public struct StepRecord: Codable, Sendable {
    /// One model's figures at the step.
    public struct Model: Codable, Sendable {
        /// Mean training loss over the step's micro-batches.
        public var loss: Float
        /// The learning rate the step used.
        public var lr: Double
        /// Global gradient norm before clipping.
        public var gradNorm: Double
        /// Whether the non-finite guard skipped the step for this model.
        public var skipped: Bool
        /// The cross-entropy part of `loss` when distillation or mutual learning adds a term on
        /// the logits (`loss − crossEntropy` is that term); absent otherwise.
        public var crossEntropy: Float?

        /// A model's figures.
        public init(loss: Float, lr: Double, gradNorm: Double, skipped: Bool) {
            self.loss = loss
            self.lr = lr
            self.gradNorm = gradNorm
            self.skipped = skipped
        }
    }
    /// `step`.
    public var type = "step"
    /// Optimizer steps completed.
    public var step: Int
    /// The data cursor's epoch after the step.
    public var epoch: Int
    /// Training examples consumed per model.
    public var examples: Int
    /// Per model name.
    public var models: [String: Model]
    /// Per-kind cross-model gradient cosines `kind:a~b` (with `optimizer.logGradientSimilarity`).
    public var similarity: [String: Double]?

    /// A step line.
    public init(step: Int, epoch: Int, examples: Int, models: [String: Model], similarity: [String: Double]?) {
        self.step = step
        self.epoch = epoch
        self.examples = examples
        self.models = models
        self.similarity = similarity
    }
}

/// One `metrics.jsonl` line for an evaluation (`"type": "eval"`).
public struct EvalRecord: Codable, Sendable {
    /// `eval`.
    public var type = "eval"
    /// Optimizer steps completed.
    public var step: Int
    /// The data cursor's epoch.
    public var epoch: Int
    /// Validation result per model name.
    public var models: [String: EvalResult]

    /// An evaluation line.
    public init(step: Int, epoch: Int, models: [String: EvalResult]) {
        self.step = step
        self.epoch = epoch
        self.models = models
    }
}
