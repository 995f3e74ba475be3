// The report as data: sections of tables, key–value lists, paragraphs and figures (charts with
// a caption), built from one run folder (`ReportBuilder.run`) or from a folder of run folders
// (`ReportBuilder.experiment`). `HTMLReport.render` turns a page into one HTML file. Everything a
// chart draws is in its series here, taken from metrics.jsonl and the checkpoints unchanged
// (smoothed lines are marked as such), which is what the tests compare.
import Foundation
import MMOAnalysis
import MMOCore
import MMOModels
import MMOOptim
import MMORun

/// A table; cells are already formatted.
public struct ReportTable: Sendable {
    public var id: String
    public var header: [String]
    public var rows: [[String]]
    /// Column indices that are numbers (right-aligned).
    public var numericColumns: Set<Int>
    public var caption: String?

    public init(id: String, header: [String], rows: [[String]], numericColumns: Set<Int> = [], caption: String? = nil) {
        self.id = id
        self.header = header
        self.rows = rows
        self.numericColumns = numericColumns
        self.caption = caption
    }
}

/// A chart of either kind.
public enum ReportChart: Sendable {
    case line(LineChart)
    case scatter(ScatterChart)

    public var id: String {
        switch self {
        case .line(let c): return c.id
        case .scatter(let c): return c.id
        }
    }

    /// The inline SVG.
    public var svg: String {
        switch self {
        case .line(let c): return SVG.render(c)
        case .scatter(let c): return SVG.render(c)
        }
    }

    public var line: LineChart? {
        if case .line(let c) = self { return c }
        return nil
    }

    public var scatter: ScatterChart? {
        if case .scatter(let c) = self { return c }
        return nil
    }
}

/// One element of a section.
public enum ReportBlock: Sendable {
    case paragraph(String)
    case table(ReportTable)
    case keyValues(id: String, [(String, String)])
    /// Charts side by side (as many per row as fit) with one caption below.
    case figure(id: String, charts: [ReportChart], caption: String)
}

/// A titled part of the page.
public struct ReportSection: Sendable {
    public var id: String
    public var title: String
    public var blocks: [ReportBlock]

    public init(id: String, title: String, blocks: [ReportBlock]) {
        self.id = id
        self.title = title
        self.blocks = blocks
    }
}

/// A whole report.
public struct ReportPage: Sendable {
    public var title: String
    /// Lines under the title.
    public var subtitle: [String]
    public var sections: [ReportSection]

    /// Every chart of the page, in order.
    public var charts: [ReportChart] {
        sections.flatMap { $0.blocks }.flatMap { block -> [ReportChart] in
            if case .figure(_, let charts, _) = block { return charts }
            return []
        }
    }

    /// The chart with `id`.
    public func chart(_ id: String) -> ReportChart? { charts.first { $0.id == id } }

    /// Every table of the page.
    public var tables: [ReportTable] {
        sections.flatMap { $0.blocks }.compactMap { block in
            if case .table(let t) = block { return t }
            return nil
        }
    }

    /// The table with `id`.
    public func table(_ id: String) -> ReportTable? { tables.first { $0.id == id } }
}

/// What to include.
public struct ReportOptions: Sendable {
    /// Grouping of the cross-model parameter comparison (the optimizer's keys).
    public var granularity: SharingGranularity = .paper
    /// Read the step checkpoints (parameter distance, PCA); off: metrics only.
    public var checkpoints = true
    /// Trailing-mean window for smoothed curves; nil: `smoothingWindow(steps:)`.
    public var smoothing: Int? = nil

    public init(granularity: SharingGranularity = .paper, checkpoints: Bool = true, smoothing: Int? = nil) {
        self.granularity = granularity
        self.checkpoints = checkpoints
        self.smoothing = smoothing
    }
}

/// Number formats of the tables (tests format the metrics the same way).
public enum ReportFormat {
    public static func accuracy(_ v: Double) -> String { String(format: "%.4f", v) }
    public static func loss(_ v: Double) -> String { v.isFinite ? String(format: "%.4f", v) : "\(v)" }
    public static func small(_ v: Double) -> String { String(format: "%.4g", v) }
    public static func cosine(_ v: Double) -> String { String(format: "%.5f", v) }
    public static func count(_ v: Int) -> String {
        let digits = String(v)
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }
}

/// Builds report pages.
public enum ReportBuilder {
    /// Whether `folder` is a run folder (holds `metrics.jsonl`).
    public static func isRun(_ folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent("metrics.jsonl").path)
    }

    /// The run folders directly inside `folder` (sub-folders with `metrics.jsonl`), by name.
    public static func runFolders(in folder: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }.filter(isRun)
    }

    /// The report of `folder`: a run report for a run folder, an experiment report for a folder of
    /// run folders. `progress(what, done, total)` while checkpoints are read.
    public static func build(
        folder: URL, options: ReportOptions = ReportOptions(), progress: ((String, Int, Int) -> Void)? = nil
    ) throws -> ReportPage {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportError("\(folder.path): not a folder; give a run folder of mmo-train or a folder of run folders")
        }
        if isRun(folder) { return try run(try RunData.load(folder), options: options, progress: progress) }
        let runs = runFolders(in: folder)
        guard !runs.isEmpty else {
            throw ReportError("\(folder.path): holds no metrics.jsonl and no run folders with one; give a run folder of mmo-train or a folder of run folders")
        }
        return try experiment(runs.map(RunData.load), root: folder, options: options)
    }

    /// `name-seedN` → (`name`, N); other names are their own group.
    public static func group(of runName: String) -> (group: String, seed: Int?) {
        guard let range = runName.range(of: "-seed[0-9]+$", options: .regularExpression) else { return (runName, nil) }
        let seed = Int(runName[range].dropFirst(5))
        let group = String(runName[..<range.lowerBound])
        return (group.isEmpty ? runName : group, seed)
    }

    // MARK: - One run

    /// The report of one run.
    public static func run(_ data: RunData, options: ReportOptions = ReportOptions(), progress: ((String, Int, Int) -> Void)? = nil) throws -> ReportPage {
        let names = data.modelNames
        let window = options.smoothing ?? smoothingWindow(steps: data.steps.count)
        var sections: [ReportSection] = [summarySection(data)]

        // Loss and accuracy.
        var lossSeries: [ChartSeries] = []
        for (i, name) in names.enumerated() {
            let raw = data.lossSeries(name)
            lossSeries.append(ChartSeries(id: "loss/\(name)", label: "\(name) per step", points: decimate(raw), color: i, lineWidth: 1, opacity: 0.35, markers: false, inLegend: false))
            let smooth = zip(raw, trailingMean(raw.map(\.y), window: window)).map { ChartPoint($0.x, $1) }
            lossSeries.append(ChartSeries(id: "loss-smoothed/\(name)", label: name, points: decimate(smooth), color: i, lineWidth: 2.2, markers: false))
        }
        let loss = LineChart(id: "loss", title: "Training loss", xLabel: "optimizer step", yLabel: "cross-entropy", series: lossSeries)
        // Pretraining runs: validation perplexity where a classification run shows accuracy.
        let lm = data.isLanguageModeling
        let accuracy = lm
            ? LineChart(
                id: "perplexity", title: "Validation perplexity", xLabel: "optimizer step", yLabel: "perplexity",
                series: names.enumerated().map { i, name in ChartSeries(id: "perplexity/\(name)", label: name, points: data.perplexitySeries(name), color: i, markers: true) })
            : LineChart(
                id: "accuracy", title: "Validation accuracy", xLabel: "optimizer step", yLabel: "accuracy",
                series: names.enumerated().map { i, name in ChartSeries(id: "accuracy/\(name)", label: name, points: data.accuracySeries(name), color: i, markers: true) })
        let drawnNote = data.steps.count > 1600 ? " Lines over \(ReportFormat.count(data.steps.count)) steps are drawn through each of 800 equal runs of steps' lowest and highest value (every drawn point is a logged one)." : ""
        var blocks: [ReportBlock] = [
            .figure(
                id: "fig-loss", charts: [.line(loss), .line(accuracy)],
                caption: "Left: each model's mean training loss over the step's micro-batches (thin: every step; bold: mean of the last \(window) step\(window == 1 ? "" : "s")). Right: \(lm ? "perplexity (exp of the mean cross-entropy over predicted tokens; masked LM with the run's fixed validation masking)" : "accuracy") on the validation set at each evaluation (\(data.evals.count) evaluation\(data.evals.count == 1 ? "" : "s"))." + drawnNote)
        ]
        if data.evals.isEmpty { blocks.append(.paragraph("metrics.jsonl has no evaluation line yet: the run evaluates after each epoch, or every training.evalEvery steps.")) }
        sections.append(ReportSection(id: "curves", title: lm ? "Loss and perplexity" : "Loss and accuracy", blocks: blocks))

        // Learning rate (Fig. 6) and gradient norm.
        let lr = LineChart(
            id: "lr", title: "Effective learning rate", xLabel: "optimizer step", yLabel: "learning rate",
            series: names.enumerated().map { i, name in ChartSeries(id: "lr/\(name)", label: name, points: decimate(data.learningRateSeries(name)), color: i, markers: false) })
        let gradNorm = LineChart(
            id: "gradnorm", title: "Gradient norm (before clipping)", xLabel: "optimizer step", yLabel: "global L2 norm",
            series: names.enumerated().map { i, name in
                ChartSeries(id: "gradnorm/\(name)", label: name, points: decimate(data.steps.compactMap { s in s.models[name].map { ChartPoint(Double(s.step), $0.gradNorm) } }), color: i, markers: false)
            })
        let adaptive = data.config?.optimizer.adaptiveLearningRate ?? true
        sections.append(
            ReportSection(
                id: "learning-rate", title: "Learning rates (paper Fig. 6)",
                blocks: [
                    .figure(
                        id: "fig-lr", charts: [.line(lr), .line(gradNorm)],
                        caption: "Left: the learning rate each model's step used, lr · warmup(t) · decay(t)" + (adaptive ? " · clamp(1/r_i, 0.5, 1.5) · w_i / mean(w) (convergence-adaptive, Alg. 3 and §3.5)." : " (adaptive learning rates are off in this run).") + " Right: each model's global gradient norm before clipping.")
                ]))

        sections.append(similaritySection(data, window: window))

        if options.checkpoints {
            sections.append(try convergenceSection(data, granularity: options.granularity, progress: progress))
            sections.append(try projectionSection(data, progress: progress))
        } else {
            sections.append(ReportSection(id: "checkpoints", title: "Checkpoints", blocks: [.paragraph("Checkpoints were not read (--metrics-only).")]))
        }
        if !data.skippedLines.isEmpty {
            sections.append(ReportSection(id: "notes", title: "Notes", blocks: [.paragraph("Left out of metrics.jsonl: " + data.skippedLines.joined(separator: "; ") + ".")]))
        }
        var subtitle = [data.url.path]
        let last = data.steps.last
        subtitle.append(
            "\(data.steps.count) step records" + (last.map { " (to step \($0.step), epoch \($0.epoch))" } ?? "") + ", \(data.evals.count) evaluations, \(data.checkpointSteps.count) step checkpoints")
        return ReportPage(title: "Run report: \(data.config?.name ?? data.name)", subtitle: subtitle, sections: sections)
    }

    static func summarySection(_ data: RunData) -> ReportSection {
        let names = data.modelNames
        var modelRows: [[String]] = []
        for name in names {
            let entry = data.config?.models.first { $0.name == name }
            let record = data.modelRecords.first { $0.name == name }
            let c = record?.config
            modelRows.append([
                name, (record?.family ?? entry?.family)?.rawValue ?? "?", entry.map { ReportFormat.small(Double($0.weight)) } ?? record.map { ReportFormat.small(Double($0.weight)) } ?? "?",
                entry?.size.rawValue ?? "?", c.map { "\($0.hiddenSize)" } ?? "?", c.map { "\($0.numLayers)" } ?? "?", c.map { "\($0.numHeads)" } ?? "?",
                c.map { "\($0.intermediateSize)" } ?? "?", record.map { ReportFormat.count($0.parameterCount) } ?? "?",
            ])
        }
        let models = ReportTable(
            id: "models", header: ["model", "family", "weight", "size", "hidden", "layers", "heads", "FFN", "parameters"], rows: modelRows,
            numericColumns: [2, 4, 5, 6, 7, 8],
            caption: data.modelRecords.isEmpty ? "Architectures are read from the newest checkpoint; this run has none, so they are unknown (?)." : nil)
        var resultRows: [[String]] = []
        let lm = data.isLanguageModeling
        // A language model's headline number is its perplexity (its accuracy is per token).
        func headline(_ r: EvalResult) -> String { lm ? String(format: "%.2f", r.perplexity ?? .nan) : ReportFormat.accuracy(r.accuracy) }
        for name in names {
            let final = data.finalEval(name), best = data.bestEval(name), step = data.finalStep(name)
            resultRows.append([
                name, final.map { headline($0.result) } ?? "–", final.map { ReportFormat.loss($0.result.loss) } ?? "–",
                final.map { "\($0.step)" } ?? "–", best.map { headline($0.result) } ?? "–", best.map { "\($0.step)" } ?? "–",
                step.map { ReportFormat.loss(Double($0.model.loss)) } ?? "–", "\(data.skippedSteps(name))",
            ])
        }
        let metric = lm ? "perplexity" : "accuracy"
        let results = ReportTable(
            id: "results",
            header: ["model", "final val. \(metric)", "final val. loss", "at step", "best val. \(metric)", "best at step", "last train loss", "skipped steps"],
            rows: resultRows, numericColumns: Set(1...7),
            caption: "Final: the last evaluation in metrics.jsonl; best: the \(lm ? "lowest validation loss (perplexity)" : "highest validation accuracy") (earliest on ties); last train loss: the last step record.")
        var blocks: [ReportBlock] = [.table(results), .table(models)]
        if let c = data.config {
            let o = c.optimizer, t = c.training
            func onOff(_ b: Bool) -> String { b ? "on" : "off" }
            var pairs: [(String, String)] = [
                ("seed", "\(c.seed)"),
                ("data", c.data.source == .synthetic ? "synthetic, \(c.data.syntheticTrain) / \(c.data.syntheticValidation)" : (c.data.train ?? c.data.source.rawValue)),
                ("max length", "\(c.data.maxLength)"),
                ("epochs", "\(t.epochs)" + (t.maxSteps.map { ", max \($0) steps" } ?? "")),
                ("batch × accumulation", "\(t.batchSize) × \(o.accumulationSteps)"),
                ("learning rate", ReportFormat.small(o.learningRate)),
                ("warmup steps", "\(o.warmupSteps)"),
                ("min LR ratio", ReportFormat.small(o.minLearningRateRatio)),
                ("weight decay", ReportFormat.small(o.weightDecay)),
                ("max grad norm", o.maxGradientNorm.map(ReportFormat.small) ?? "none"),
                ("gradient sharing", o.gradientSharing ? "on, α \(ReportFormat.small(o.sharingCoefficient)), every \(o.shareEvery)" : "off"),
                ("parameter sync", o.parameterSync ? "on, β \(ReportFormat.small(o.syncCoefficient)), every \(o.syncEvery)" : "off"),
                ("adaptive LR", o.adaptiveLearningRate ? "on, window \(o.convergenceWindow), every \(o.convergenceEvery)" : "off"),
                ("granularity", o.granularity.rawValue),
                ("gradient similarity log", onOff(o.logGradientSimilarity)),
                ("checkpoints", t.checkpointEvery > 0 ? "every \(t.checkpointEvery), keep \(t.keepLast)" : "at the end, keep \(t.keepLast)"),
                ("threads", "\(t.threads)"),
            ]
            if let last = data.steps.last { pairs.insert(("steps run", "\(last.step) (\(ReportFormat.count(last.examples)) examples)"), at: 4) }
            blocks.append(.keyValues(id: "settings", pairs))
        } else {
            blocks.append(.paragraph("config.json is missing: settings unknown."))
        }
        return ReportSection(id: "summary", title: "Summary", blocks: blocks)
    }

    /// "kind:a~b" → ("kind", "a ~ b").
    static func splitSimilarityKey(_ key: String) -> (kind: String, pair: String) {
        let parts = key.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { return ("?", key) }
        return (String(parts[0]), parts[1].replacingOccurrences(of: "~", with: " ~ "))
    }

    static func similaritySection(_ data: RunData, window: Int) -> ReportSection {
        let keys = data.similarityKeys
        let title = "Gradient similarity between models (paper Fig. 4)"
        guard !keys.isEmpty else {
            return ReportSection(
                id: "gradient-similarity", title: title,
                blocks: [.paragraph("This run's metrics have no gradient similarities; train with optimizer.logGradientSimilarity: true to record, at every step, the cosine between the models' gradients per parameter kind.")])
        }
        var pairs: [String] = []
        for key in keys where !pairs.contains(splitSimilarityKey(key).pair) { pairs.append(splitSimilarityKey(key).pair) }
        var kinds: [String] = []
        for key in keys where !kinds.contains(splitSimilarityKey(key).kind) { kinds.append(splitSimilarityKey(key).kind) }
        var charts: [ReportChart] = []
        for kind in kinds {
            var series: [ChartSeries] = []
            for key in keys where splitSimilarityKey(key).kind == kind {
                let pair = splitSimilarityKey(key).pair, color = pairs.firstIndex(of: pair) ?? 0
                let raw = data.similaritySeries(key)
                series.append(ChartSeries(id: "gradsim/\(key)", label: "\(pair) per step", points: decimate(raw), color: color, lineWidth: 1, opacity: 0.3, markers: false, inLegend: false))
                let smooth = zip(raw, trailingMean(raw.map(\.y), window: window)).map { ChartPoint($0.x, $1) }
                series.append(ChartSeries(id: "gradsim-smoothed/\(key)", label: pair, points: decimate(smooth), color: color, lineWidth: 2, markers: false))
            }
            charts.append(.line(LineChart(id: "gradsim-\(kind)", title: "\(kind) gradients", xLabel: "optimizer step", yLabel: "cosine", series: series, width: 400, height: 300)))
        }
        return ReportSection(
            id: "gradient-similarity", title: title,
            blocks: [
                .figure(
                    id: "fig-gradsim", charts: charts,
                    caption: "Cosine between two models' gradients over all parameters of one kind that they share by compatibility key (before sharing, after clipping), per step (thin) and as the mean of the last \(window) step\(window == 1 ? "" : "s") (bold).")
            ])
    }

    static func convergenceSection(_ data: RunData, granularity: SharingGranularity, progress: ((String, Int, Int) -> Void)?) throws -> ReportSection {
        let title = "Parameter convergence between models (paper Fig. 5)"
        guard !data.checkpointSteps.isEmpty else {
            return ReportSection(
                id: "convergence", title: title,
                blocks: [.paragraph("The run folder holds no step-NNNNNN.mmo checkpoints; train with training.checkpointEvery > 0 and a larger training.keepLast to follow the models' parameters over the run.")])
        }
        let series: [CrossModelReport]
        do {
            series = try Differ.crossModelSeries(run: data.url, granularity: granularity) { done, total in progress?("cross-model", done, total) }
        } catch {
            throw ReportError("\(error)")
        }
        var kinds: [ParameterKind] = [], pairs: [String] = []
        for r in series {
            for p in r.perKind {
                if !kinds.contains(p.kind) { kinds.append(p.kind) }
                let pair = "\(p.modelA) ~ \(p.modelB)"
                if !pairs.contains(pair) { pairs.append(pair) }
            }
        }
        kinds.sort()
        func chart(_ kind: ParameterKind, metric: String, title: String, yLabel: String, value: (CrossModelPair) -> Double) -> ReportChart {
            let lines = pairs.enumerated().map { i, pair in
                ChartSeries(
                    id: "\(metric)/\(kind.rawValue):\(pair.replacingOccurrences(of: " ~ ", with: "~"))", label: pair,
                    points: series.compactMap { r in
                        r.perKind.first { $0.kind == kind && "\($0.modelA) ~ \($0.modelB)" == pair }.map { ChartPoint(Double(r.step), value($0)) }
                    }, color: i)
            }.filter { !$0.points.isEmpty }
            return .line(LineChart(id: "\(metric)-\(kind.rawValue)", title: title, xLabel: "checkpoint step", yLabel: yLabel, series: lines, width: 400, height: 300))
        }
        let distance = kinds.map { chart($0, metric: "distance", title: "\($0.rawValue): distance", yLabel: "‖a − b‖ / (‖a‖ + ‖b‖)", value: \.relativeDistance) }
        let cosine = kinds.map { chart($0, metric: "cosine", title: "\($0.rawValue): cosine", yLabel: "cosine", value: \.cosine) }
        var blocks: [ReportBlock] = []
        if kinds.isEmpty {
            blocks.append(.paragraph("No compatibility key at granularity \(granularity.rawValue) is shared by two models, so there is nothing to compare."))
        } else {
            let steps = series.map { "\($0.step)" }.joined(separator: ", ")
            blocks.append(
                .figure(
                    id: "fig-distance", charts: distance,
                    caption: "Relative distance ‖a − b‖ / (‖a‖ + ‖b‖) between two models' parameters of one kind (over every tensor that the pair shares a compatibility key for at granularity \(granularity.rawValue), the optimizer's own grouping), at each step checkpoint of the folder (steps \(steps)). 0: identical, 1: opposite; sync (Alg. 2) pulls it down."))
            blocks.append(
                .figure(id: "fig-cosine", charts: cosine, caption: "Cosine between the same parameter vectors at each checkpoint (1: same direction)."))
            if let last = series.last {
                blocks.append(
                    .table(
                        ReportTable(
                            id: "convergence-last", header: ["kind", "models", "tensors", "cosine", "rel. distance"],
                            rows: last.perKind.sorted { a, b in
                                a.kind != b.kind ? a.kind < b.kind : (pairs.firstIndex(of: "\(a.modelA) ~ \(a.modelB)") ?? 0) < (pairs.firstIndex(of: "\(b.modelA) ~ \(b.modelB)") ?? 0)
                            }.map { [$0.kind.rawValue, "\($0.modelA) ~ \($0.modelB)", "\($0.tensors)", ReportFormat.cosine($0.cosine), ReportFormat.small($0.relativeDistance)] },
                            numericColumns: [2, 3, 4], caption: "At the last checkpoint (step \(last.step)), per kind and pair: the numbers of the last points above.")))
            }
        }
        return ReportSection(id: "convergence", title: title, blocks: blocks)
    }

    static func projectionSection(_ data: RunData, progress: ((String, Int, Int) -> Void)?) throws -> ReportSection {
        let title = "Attention weights in two dimensions (PCA)"
        let (projection, reason) = try AttentionProjection.compute(run: data.url, steps: data.checkpointSteps) { done, total in progress?("attention PCA", done, total) }
        guard let projection else {
            return ReportSection(id: "projection", title: title, blocks: [.paragraph("No projection: \(reason ?? "nothing to project").")])
        }
        let models = data.modelNames.filter { name in projection.points.contains { $0.model == name } }
            + Set(projection.points.map(\.model)).subtracting(data.modelNames).sorted()
        let groups = models.enumerated().map { i, model -> ScatterGroup in
            let points = projection.points.filter { $0.model == model }
            return ScatterGroup(
                id: "pca/\(model)", label: model, points: points.map { ChartPoint($0.pc1, $0.pc2) }, notes: points.map { "step \($0.step)" },
                color: data.modelNames.firstIndex(of: model) ?? i, annotate: points.isEmpty ? [] : [0])
        }
        let e = projection.explained.map { String(format: "%.1f%%", 100 * $0) }
        let chart = ScatterChart(
            id: "pca", title: "Attention weights: PC1 vs PC2", xLabel: "PC1 (\(e[0]) of variance)", yLabel: "PC2 (\(e[1]) of variance)",
            groups: groups, width: 760, height: 480)
        let tensors = projection.tensorNames.values.first?.count ?? 0
        let caption = """
            One point per model per step checkpoint (steps \(projection.steps.map(String.init).joined(separator: ", "))), joined in step \
            order; hollow: the first checkpoint, dark ring: the last. Each point is the model's attention parameters flattened into one vector of \
            \(ReportFormat.count(projection.dimension)) values: for every attention compatibility key (kind, shape) that all models have \
            (\(projection.keys.joined(separator: ", "))), the first n tensors of each model under that key in registration order, n the \
            smallest count among the models — \(tensors) tensors per model, lined up as the optimizer pairs them (query, key, value and \
            output weights and biases of each layer). The \(projection.points.count) vectors are centred and projected on the first two \
            principal components, computed from their \(projection.points.count) × \(projection.points.count) Gram matrix (Jacobi \
            eigen-decomposition, in Swift); PC1 and PC2 hold \(e[0]) and \(e[1]) of the variance.
            """
        return ReportSection(id: "projection", title: title, blocks: [.figure(id: "fig-pca", charts: [.scatter(chart)], caption: caption)])
    }

    // MARK: - An experiment: several runs, grouped by name before -seedN

    /// The report of several runs: per group (variant) the mean over its runs and a min–max band,
    /// with each run's own curve underneath.
    public static func experiment(_ runs: [RunData], root: URL, options: ReportOptions = ReportOptions()) throws -> ReportPage {
        var groupNames: [String] = []
        var members: [String: [RunData]] = [:]
        for run in runs {
            let g = group(of: run.name).group
            if members[g] == nil { groupNames.append(g) }
            members[g, default: []].append(run)
        }
        var models: [String] = []
        for run in runs { for m in run.modelNames where !models.contains(m) { models.append(m) } }

        // Tables.
        var runRows: [[String]] = []
        for run in runs {
            for m in run.modelNames {
                let final = run.finalEval(m), best = run.bestEval(m), step = run.finalStep(m)
                runRows.append([
                    run.name, group(of: run.name).group, group(of: run.name).seed.map(String.init) ?? "–", m, "\(run.steps.last?.step ?? 0)",
                    final.map { ReportFormat.accuracy($0.result.accuracy) } ?? "–", best.map { ReportFormat.accuracy($0.result.accuracy) } ?? "–",
                    best.map { "\($0.step)" } ?? "–", step.map { ReportFormat.loss(Double($0.model.loss)) } ?? "–",
                ])
            }
        }
        var groupRows: [[String]] = []
        for g in groupNames {
            for m in models {
                let finals = members[g]!.compactMap { $0.finalEval(m)?.result.accuracy }
                let bests = members[g]!.compactMap { $0.bestEval(m)?.result.accuracy }
                func stats(_ v: [Double]) -> [String] {
                    guard !v.isEmpty else { return ["–", "–", "–"] }
                    return [ReportFormat.accuracy(v.reduce(0, +) / Double(v.count)), ReportFormat.accuracy(v.min()!), ReportFormat.accuracy(v.max()!)]
                }
                if finals.isEmpty && bests.isEmpty && !members[g]!.contains(where: { $0.modelNames.contains(m) }) { continue }
                groupRows.append([g, "\(members[g]!.count)", m] + stats(finals) + stats(bests))
            }
        }
        var sections = [
            ReportSection(
                id: "summary", title: "Summary",
                blocks: [
                    .table(
                        ReportTable(
                            id: "groups", header: ["variant", "runs", "model", "final acc. mean", "min", "max", "best acc. mean", "min", "max"],
                            rows: groupRows, numericColumns: [1, 3, 4, 5, 6, 7, 8],
                            caption: "Per variant (run names up to the last -seedN) and model: validation accuracy at each run's last evaluation (final) and its highest (best), mean, min and max over the variant's runs.")),
                ]),
        ]
        // Curves per model.
        for m in models {
            var lossSeries: [ChartSeries] = [], lossBands: [ChartBand] = []
            var accSeries: [ChartSeries] = [], accBands: [ChartBand] = []
            for (gi, g) in groupNames.enumerated() {
                let group = members[g]!.filter { $0.modelNames.contains(m) }
                guard !group.isEmpty else { continue }
                let smoothed = group.map { run -> [ChartPoint] in
                    let raw = run.lossSeries(m)
                    let w = options.smoothing ?? smoothingWindow(steps: raw.count)
                    return zip(raw, trailingMean(raw.map(\.y), window: w)).map { ChartPoint($0.x, $1) }
                }
                for (run, points) in zip(group, smoothed) {
                    lossSeries.append(ChartSeries(id: "run-loss/\(run.name)/\(m)", label: run.name, points: decimate(points), color: gi, lineWidth: 1, opacity: 0.4, markers: false, inLegend: false))
                    accSeries.append(ChartSeries(id: "run-accuracy/\(run.name)/\(m)", label: run.name, points: run.accuracySeries(m), color: gi, lineWidth: 1, opacity: 0.4, markers: false, inLegend: false))
                }
                let label = group.count > 1 ? "\(g) (mean of \(group.count))" : g
                let lossStats = aggregate(smoothed)
                let accStats = aggregate(group.map { $0.accuracySeries(m) })
                lossSeries.append(ChartSeries(id: "group-loss/\(g)/\(m)", label: label, points: decimate(lossStats.mean), color: gi, lineWidth: 2.4, markers: false))
                accSeries.append(ChartSeries(id: "group-accuracy/\(g)/\(m)", label: label, points: accStats.mean, color: gi, lineWidth: 2.4, markers: accStats.mean.count <= 60))
                if group.count > 1 {
                    lossBands.append(ChartBand(id: "group-loss/\(g)/\(m)", label: "\(g) min–max", x: lossStats.mean.map(\.x), lower: lossStats.min, upper: lossStats.max, color: gi))
                    accBands.append(ChartBand(id: "group-accuracy/\(g)/\(m)", label: "\(g) min–max", x: accStats.mean.map(\.x), lower: accStats.min, upper: accStats.max, color: gi))
                }
            }
            let loss = LineChart(id: "loss-\(m)", title: "\(m): training loss (smoothed)", xLabel: "optimizer step", yLabel: "cross-entropy", series: lossSeries, bands: lossBands)
            let acc = LineChart(id: "accuracy-\(m)", title: "\(m): validation accuracy", xLabel: "optimizer step", yLabel: "accuracy", series: accSeries, bands: accBands)
            sections.append(
                ReportSection(
                    id: "model-\(m)", title: "Model \(m)",
                    blocks: [
                        .figure(
                            id: "fig-\(m)", charts: [.line(loss), .line(acc)],
                            caption: "Per variant: the mean over its runs (bold), the min–max band over the runs (shaded, where a variant has two or more) and each run (thin), at the steps all of the variant's runs have. Loss is each run's trailing mean over about a twentieth of its steps.")
                    ]))
        }
        sections.append(
            ReportSection(
                id: "runs", title: "Runs",
                blocks: [
                    .table(
                        ReportTable(
                            id: "runs", header: ["run", "variant", "seed", "model", "steps", "final val. accuracy", "best val. accuracy", "best at step", "last train loss"],
                            rows: runRows, numericColumns: [2, 4, 5, 6, 7, 8]))
                ]))
        let subtitle = [root.path, "\(runs.count) runs in \(groupNames.count) variant\(groupNames.count == 1 ? "" : "s"): " + groupNames.map { "\($0) (\(members[$0]!.count))" }.joined(separator: ", ")]
        return ReportPage(title: "Experiment report: \(root.lastPathComponent)", subtitle: subtitle, sections: sections)
    }

    /// Mean, min and max over several curves at the x values all of them have.
    public static func aggregate(_ curves: [[ChartPoint]]) -> (mean: [ChartPoint], min: [Double], max: [Double]) {
        guard let first = curves.first else { return ([], [], []) }
        let maps = curves.map { Dictionary($0.map { ($0.x, $0.y) }, uniquingKeysWith: { _, last in last }) }
        var xs: [Double] = []
        var seen = Set<Double>()
        for p in first where !seen.contains(p.x) && maps.allSatisfy({ $0[p.x] != nil }) {
            seen.insert(p.x)
            xs.append(p.x)
        }
        var mean: [ChartPoint] = [], lo: [Double] = [], hi: [Double] = []
        for x in xs {
            let values = maps.map { $0[x]! }
            mean.append(ChartPoint(x, values.reduce(0, +) / Double(values.count)))
            lo.append(values.min()!)
            hi.append(values.max()!)
        }
        return (mean, lo, hi)
    }
}
