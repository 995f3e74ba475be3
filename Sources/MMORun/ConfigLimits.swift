// The allowed range of every numeric field of a run config, in one table that `validate` checks
// and docs/config.md ("Ranges") lists (a test compares the two). The bounds keep every product the
// run computes from user numbers (batch × length, steps × epochs, activation sizes) far from Int
// overflow, and are generous for this CPU trainer; the memory estimate below catches what fits the
// ranges but not the machine.
import Foundation
import MMOCore
import MMOModels
import MMOOptim

/// The bounds of a run config.
public enum ConfigLimits {
    /// Inclusive range of each integer field (dotted paths; `models[]` applies to every model).
    public static let integerRanges: [(field: String, range: ClosedRange<Int>)] = [
        ("models", 1...64),
        ("models[].hiddenSize", 1...16_384),
        ("models[].numLayers", 1...256),
        ("models[].numHeads", 1...1_024),
        ("models[].intermediateSize", 1...65_536),
        ("data.syntheticTrain", 1...10_000_000),
        ("data.syntheticValidation", 1...10_000_000),
        ("data.vocabularyLimit", 1...10_000_000),
        ("data.maxLength", 3...8_192),
        ("training.epochs", 1...1_000_000),
        ("training.maxSteps", 1...1_000_000_000),
        ("training.batchSize", 1...65_536),
        ("training.evalEvery", 0...1_000_000_000),
        ("training.checkpointEvery", 0...1_000_000_000),
        ("training.keepLast", 1...100_000),
        ("training.logEvery", 1...1_000_000_000),
        ("training.threads", 1...1_024),
        ("training.compressionLevel", 1...19),
        ("optimizer.accumulationSteps", 1...65_536),
        ("optimizer.warmupSteps", 0...1_000_000_000),
        ("optimizer.shareEvery", 1...1_000_000_000),
        ("optimizer.syncEvery", 1...1_000_000_000),
        ("optimizer.convergenceWindow", 2...1_000_000),
        ("optimizer.convergenceEvery", 1...1_000_000_000),
        ("optimizer.maxConsecutiveSkips", 0...1_000_000_000),
    ]

    /// Longest model name: `best-<name>.mmo` and `optim/<name>/m/<param>` must stay within the
    /// file system's 255-byte names and the format's 1024-byte blob names.
    public static let maxModelNameLength = 64
    /// Largest model weight w_i.
    public static let maxModelWeight: Float = 1_000_000

    /// The range of `field`.
    public static func range(_ field: String) -> ClosedRange<Int> {
        guard let entry = integerRanges.first(where: { $0.field == field }) else { preconditionFailure("no range for \(field)") }
        return entry.range
    }

    /// Bytes a run of `architectures` needs at least: per model its parameters, gradients and two
    /// AdamW moments (16 bytes per parameter), plus the activations of one micro-batch of
    /// `batchSize × maxLength` tokens (saved for backward: per layer about (16 + 2·FFN/hidden)
    /// floats per token and channel, and 3 attention maps of T² per head), plus a checkpoint's
    /// encode buffers (about one copy of the parameters and moments).
    public static func memoryEstimate(architectures: [ModelConfig], batchSize: Int, maxLength: Int) -> Int {
        var total = 0.0
        for c in architectures {
            let parameters = Double((try? parameterSpecs(config: c))?.reduce(0) { $0 + $1.count } ?? 0)
            let tokens = Double(batchSize) * Double(maxLength)
            let perLayer =
                tokens * Double(c.hiddenSize) * (16 + 2 * Double(c.intermediateSize) / Double(max(1, c.hiddenSize)))
                + 3 * Double(batchSize) * Double(c.numHeads) * Double(maxLength) * Double(maxLength)
            total += 4 * (4 * parameters + Double(c.numLayers) * perLayer + 3 * parameters)
        }
        return total >= Double(Int.max) ? Int.max : Int(total)
    }

    /// Throws when `memoryEstimate` exceeds this machine's physical memory.
    public static func checkMemory(architectures: [ModelConfig], batchSize: Int, maxLength: Int, file: String) throws {
        let need = memoryEstimate(architectures: architectures, batchSize: batchSize, maxLength: maxLength)
        let have = ProcessInfo.processInfo.physicalMemory
        if UInt64(need) > have {
            func gib(_ x: Double) -> String { String(format: "%.1f GiB", x / Double(1 << 30)) }
            throw ConfigError(
                file: file, field: "models",
                reason: "the run needs about \(gib(Double(need))) (parameters, gradients, AdamW moments and the activations of one batch of \(batchSize) × \(maxLength) tokens) but this machine has \(gib(Double(have))); use smaller models, a smaller training.batchSize or data.maxLength")
        }
    }
}

extension RunConfig {
    /// The integer fields of this config with their values (effective values for model presets).
    /// `range` is the key into `ConfigLimits.integerRanges`, `field` the path named in errors.
    func integerFields() -> [(range: String, field: String, value: Int)] {
        var out: [(range: String, field: String, value: Int)] = [("models", "models", models.count)]
        for (i, m) in models.enumerated() {
            let d = m.size.dimensions
            out += [
                ("models[].hiddenSize", "models[\(i)].hiddenSize", m.hiddenSize ?? d.hidden),
                ("models[].numLayers", "models[\(i)].numLayers", m.numLayers ?? d.layers),
                ("models[].numHeads", "models[\(i)].numHeads", m.numHeads ?? d.heads),
                ("models[].intermediateSize", "models[\(i)].intermediateSize", m.intermediateSize ?? d.intermediate),
            ]
        }
        if data.source == .synthetic {
            out += [("data.syntheticTrain", "data.syntheticTrain", data.syntheticTrain), ("data.syntheticValidation", "data.syntheticValidation", data.syntheticValidation)]
        }
        out += [
            ("data.vocabularyLimit", "data.vocabularyLimit", data.vocabularyLimit), ("data.maxLength", "data.maxLength", data.maxLength),
            ("training.batchSize", "training.batchSize", training.batchSize), ("training.evalEvery", "training.evalEvery", training.evalEvery),
            ("training.checkpointEvery", "training.checkpointEvery", training.checkpointEvery),
            ("training.keepLast", "training.keepLast", training.keepLast), ("training.logEvery", "training.logEvery", training.logEvery),
            ("training.threads", "training.threads", training.threads),
            ("optimizer.accumulationSteps", "optimizer.accumulationSteps", optimizer.accumulationSteps),
            ("optimizer.warmupSteps", "optimizer.warmupSteps", optimizer.warmupSteps),
            ("optimizer.shareEvery", "optimizer.shareEvery", optimizer.shareEvery), ("optimizer.syncEvery", "optimizer.syncEvery", optimizer.syncEvery),
            ("optimizer.convergenceWindow", "optimizer.convergenceWindow", optimizer.convergenceWindow),
            ("optimizer.convergenceEvery", "optimizer.convergenceEvery", optimizer.convergenceEvery),
            ("optimizer.maxConsecutiveSkips", "optimizer.maxConsecutiveSkips", optimizer.maxConsecutiveSkips),
        ]
        if let steps = training.maxSteps {
            out.append(("training.maxSteps", "training.maxSteps", steps))
        } else {
            out.append(("training.epochs", "training.epochs", training.epochs))
        }
        if let level = training.compressionLevel { out.append(("training.compressionLevel", "training.compressionLevel", level)) }
        return out
    }

    /// Checks every integer field against `ConfigLimits`, naming the first one outside its range.
    func checkRanges(file: String) throws {
        for entry in integerFields() {
            let range = ConfigLimits.range(entry.range)
            if !range.contains(entry.value) {
                throw ConfigError(
                    file: file, field: entry.field,
                    reason: "\(entry.value) is outside the allowed range \(range.lowerBound)…\(range.upperBound) (docs/config.md, Ranges)")
            }
        }
    }
}
