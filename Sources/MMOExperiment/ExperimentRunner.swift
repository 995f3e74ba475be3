// Carrying out a plan: each unfinished run as a child `mmo-train` process (its own process group,
// so a Ctrl-C reaches only this process, which passes one SIGTERM to each child: they finish the
// step, write a checkpoint and exit 75), `lanes` at a time with `threads` BLAS threads each. Then
// runs.csv, summary.md and the report.
import Foundation
import MMOAnalysis
import MMORun

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Something the caller may show while an experiment runs.
public enum ExperimentEvent: Sendable {
    /// A run's process started (`from` its status).
    case started(run: String, status: RunStatus, command: [String])
    /// Steps of the runs in progress (run, step, total), with the runs finished so far.
    case progress(running: [(run: String, step: Int, total: Int)], finished: Int, total: Int)
    /// A run's process ended.
    case ended(run: String, outcome: RunOutcome, wall: Double, cpu: Double)
    /// The tables and the report.
    case wrote(String)
    /// A warning (the report could not be made, …).
    case warning(String)
}

/// How one run's process ended.
public enum RunOutcome: Equatable, Sendable, CustomStringConvertible {
    /// At its last step, final evaluation written.
    case finished
    /// Stopped (signal or --stop-at) with a checkpoint; resumed by the next invocation.
    case stopped(step: Int)
    /// mmo-train failed (exit status or signal), see the log.
    case failed(reason: String)

    /// `finished`, `stopped at step k`, `failed: …`.
    public var description: String {
        switch self {
        case .finished: return "finished"
        case .stopped(let s): return "stopped at step \(s) (resumable)"
        case .failed(let r): return "failed: \(r)"
        }
    }
}

/// The end of an experiment invocation.
public struct ExperimentOutcome: Sendable {
    /// Runs finished (now or before), run ids.
    public var finished: [String]
    /// Runs not finished: stopped or failed, with why.
    public var unfinished: [(run: String, outcome: RunOutcome)]
    /// Whether a stop was requested (signal).
    public var interrupted: Bool
}

/// One mmo-train process's record in `timings.jsonl`.
struct TimingRecord: Codable {
    var run: String
    var wall: Double
    var cpu: Double
    var exit: String
    var fromStep: Int
    var toStep: Int
    var threads: Int
    var lanes: Int
}

/// Runs a plan.
public struct ExperimentRunner {
    /// The plan to carry out.
    public var plan: ExperimentPlan
    /// The `mmo-train` executable.
    public var trainExecutable: URL
    /// The `mmo-report` executable (nil: no report).
    public var reportExecutable: URL?
    /// Passed to every started or resumed run as `--stop-at` (tests: a reproducible interruption).
    public var stopAt: Int?

    /// A runner of `plan` with these executables.
    public init(plan: ExperimentPlan, trainExecutable: URL, reportExecutable: URL?, stopAt: Int? = nil) {
        self.plan = plan
        self.trainExecutable = trainExecutable
        self.reportExecutable = reportExecutable
        self.stopAt = stopAt
    }

    private struct Running {
        var run: PlannedRun
        var pid: pid_t
        var started: Date
        var fromStep: Int
        var step: Int
        var total: Int
    }

    /// Trains every unfinished run, then writes the tables and the report (when every run has
    /// finished). `shouldStop` is polled; once it is true no run starts, the running ones get
    /// SIGTERM and are waited for.
    public func run(shouldStop: () -> Bool, events: (ExperimentEvent) -> Void) throws -> ExperimentOutcome {
        let state = RunDirectory(url: plan.stateFolder)
        try state.create()
        let lock: RunLock
        do {
            lock = try state.lock()
        } catch {
            throw ExperimentError("\(plan.results.path): another mmo-experiment is using this results folder (\(error))")
        }
        defer { withExtendedLifetime(lock) {} }
        try writeConfigs()

        var pending = plan.runs.filter { if case .finished = $0.status { return false } else { return true } }
        var finished = plan.runs.filter { if case .finished = $0.status { return true } else { return false } }.map(\.id)
        var unfinished: [(run: String, outcome: RunOutcome)] = []
        var running: [Running] = []
        var interrupted = false
        var signalled = false
        var lastProgress = Date.distantPast

        while !running.isEmpty || (!pending.isEmpty && !interrupted) {
            if shouldStop() { interrupted = true }
            if interrupted && !signalled {
                for r in running { kill(r.pid, SIGTERM) }
                signalled = true
            }
            // A run whose teacher run failed cannot start; one whose teacher is still training waits.
            while let blocked = pending.firstIndex(where: { run in
                run.after.map { id in !finished.contains(id) && !running.contains { $0.run.id == id } && !pending.contains { $0.id == id } } ?? false
            }) {
                let run = pending.remove(at: blocked)
                unfinished.append((run.id, .failed(reason: "its distillation teacher \(run.after!) did not finish")))
            }
            while !interrupted && running.count < plan.lanes,
                let next = pending.firstIndex(where: { run in run.after.map { finished.contains($0) } ?? true })
            {
                let run = pending.remove(at: next)
                var command = plan.command(run, trainPath: trainExecutable.path)
                if let stopAt, stopAt > stepOf(run) { command += ["--stop-at", "\(stopAt)"] }
                let pid = try spawn(command, log: plan.logURL(run))
                events(.started(run: run.id, status: run.status, command: command))
                let total: Int
                switch run.status {
                case .resumable(_, let t): total = t
                default: total = run.totalSteps ?? 0
                }
                running.append(Running(run: run, pid: pid, started: Date(), fromStep: stepOf(run), step: stepOf(run), total: total))
            }
            // Reap whoever has ended.
            var index = 0
            while index < running.count {
                var status: Int32 = 0
                var usage = rusage()
                let r = wait4(running[index].pid, &status, WNOHANG, &usage)
                if r == 0 {
                    index += 1
                    continue
                }
                let ended = running.remove(at: index)
                let wall = Date().timeIntervalSince(ended.started)
                let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime)
                let exit = describeExit(status, r < 0)
                let outcome = self.outcome(of: ended.run, exit: exit)
                try appendTiming(
                    TimingRecord(
                        run: ended.run.id, wall: wall, cpu: cpu, exit: exit.text, fromStep: ended.fromStep, toStep: currentStep(ended.run) ?? ended.fromStep,
                        threads: plan.threads, lanes: plan.lanes))
                events(.ended(run: ended.run.id, outcome: outcome, wall: wall, cpu: cpu))
                if outcome == .finished { finished.append(ended.run.id) } else { unfinished.append((ended.run.id, outcome)) }
            }
            if Date().timeIntervalSince(lastProgress) >= 0.25 {
                for i in running.indices { running[i].step = latestStep(running[i].run.folder) ?? running[i].step }
                events(.progress(running: running.map { ($0.run.id, $0.step, $0.total) }, finished: finished.count, total: plan.runs.count))
                lastProgress = Date()
            }
            if !running.isEmpty || !pending.isEmpty { usleep(20_000) }
        }
        for run in pending { unfinished.append((run.id, .stopped(step: stepOf(run)))) }
        // Tables once nothing is left to resume (failed runs are named in the summary).
        if !unfinished.contains(where: { if case .stopped = $0.outcome { return true } else { return false } }) {
            try writeResults(unfinished: unfinished.map(\.run), events: events)
        }
        return ExperimentOutcome(finished: finished, unfinished: unfinished, interrupted: interrupted)
    }

    /// The variants' configs (`.experiment/configs/<variant>.json`, the seed set per run).
    func writeConfigs() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileManager.default.createDirectory(at: plan.configURL("x").deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: plan.logURL(plan.runs[0]).deletingLastPathComponent(), withIntermediateDirectories: true)
        var written = Set<String>()
        for run in plan.runs where written.insert(run.variant).inserted {
            try encoder.encode(run.config).write(to: plan.configURL(run.variant), options: .atomic)
        }
    }

    func stepOf(_ run: PlannedRun) -> Int {
        if case .resumable(let s, _) = run.status { return s }
        return 0
    }

    func currentStep(_ run: PlannedRun) -> Int? {
        (try? Checkpoint.open(RunDirectory(url: run.folder).lastURL))?.state.progress.step
    }

    /// What the run folder says after the process ended, with its exit.
    func outcome(of run: PlannedRun, exit: (ok: Bool, text: String)) -> RunOutcome {
        var again = run
        if let status = try? ExperimentPlan.status(of: run) { again.status = status }
        switch again.status {
        case .finished: return .finished
        // Stopped (also before its first step, nothing saved: it starts afresh next time).
        case _ where exit.ok || exit.text == "exit 75": return .stopped(step: stepOf(again))
        default:
            let tail = ((try? String(contentsOf: plan.logURL(run), encoding: .utf8)) ?? "").split(separator: "\n").suffix(3)
                .joined(separator: " / ")
            return .failed(reason: "mmo-train \(exit.text); \(tail) (log: \(plan.logURL(run).path))")
        }
    }

    func appendTiming(_ record: TimingRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        if !FileManager.default.fileExists(atPath: plan.timingsURL.path) {
            _ = FileManager.default.createFile(atPath: plan.timingsURL.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: plan.timingsURL)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }

    /// The records of `timings.jsonl`.
    func timingRecords() -> [TimingRecord] {
        guard let data = try? Data(contentsOf: plan.timingsURL) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONDecoder().decode(TimingRecord.self, from: Data($0)) }
    }

    /// Summed wall and CPU seconds per run from `timings.jsonl`.
    func timings() -> [String: (wall: Double, cpu: Double)] {
        var out: [String: (wall: Double, cpu: Double)] = [:]
        for r in timingRecords() {
            let t = out[r.run] ?? (0, 0)
            out[r.run] = (t.wall + r.wall, t.cpu + r.cpu)
        }
        return out
    }

    /// BLAS threads of the ensemble evaluations: they run after every run has ended, so all cores
    /// (on the real tweets one evaluation costs about as much as 25 training steps).
    var ensembleThreads: Int { max(plan.threads, ProcessInfo.processInfo.activeProcessorCount) }

    /// The validation accuracy of the ensemble that averages the models' probabilities (as
    /// `mmo-eval`) at the run's last.mmo; cached in `.experiment/ensemble/<run>.json` by step.
    func ensembleAccuracy(_ run: PlannedRun) throws -> Double {
        struct Cached: Codable {
            var step: Int
            var accuracy: Double
        }
        let cache = plan.stateFolder.appendingPathComponent("ensemble/\(run.id).json")
        let checkpoint = try Checkpoint.open(RunDirectory(url: run.folder).lastURL)
        if let data = try? Data(contentsOf: cache), let cached = try? JSONDecoder().decode(Cached.self, from: data),
            cached.step == checkpoint.state.progress.step
        {
            return cached.accuracy
        }
        let report = try CheckpointEvaluator.evaluate(
            checkpoint, on: EvaluationData.validation(of: checkpoint), dataDescription: "validation", options: EvaluationOptions(threads: ensembleThreads))
        guard let accuracy = report.ensemble?.accuracy else { throw ExperimentError("the checkpoint's models give no ensemble") }
        try FileManager.default.createDirectory(at: cache.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONEncoder().encode(Cached(step: checkpoint.state.progress.step, accuracy: accuracy)).write(to: cache, options: .atomic)
        return accuracy
    }

    /// runs.csv, summary.md, and the report.
    func writeResults(unfinished: [String], events: (ExperimentEvent) -> Void) throws {
        let times = timings()
        var rows: [RunResult] = []
        var models: [String] = []
        for run in plan.runs { for m in run.config.models.map(\.name) where !models.contains(m) { models.append(m) } }
        for run in plan.runs where !unfinished.contains(run.id) {
            let metricsURL = RunDirectory(url: run.folder).metricsURL
            guard let metrics = try? RunMetrics.load(metricsURL) else {
                events(.warning("\(metricsURL.path): cannot be read; the run is left out of the tables"))
                continue
            }
            rows += RunResult.rows(
                variant: run.variant, seed: run.seed, models: run.config.models.map(\.name), metrics: metrics, target: plan.spec.target,
                wall: times[run.id]?.wall, cpu: times[run.id]?.cpu)
            if run.config.models.count > 1 {
                do {
                    let accuracy = try ensembleAccuracy(run)
                    rows.append(
                        RunResult(
                            variant: run.variant, seed: run.seed, model: "ensemble", finalAccuracy: accuracy, bestAccuracy: nil, bestStep: nil,
                            epoch3Accuracy: nil, stepsToTarget: nil, wallSeconds: times[run.id]?.wall, cpuSeconds: times[run.id]?.cpu))
                } catch {
                    events(.warning("\(run.id): no ensemble accuracy (\(error))"))
                }
            }
        }
        if rows.contains(where: { $0.model == "ensemble" }) { models.append("ensemble") }
        var notes: [String] = []
        if !unfinished.isEmpty { notes.append("Not finished (left out): \(unfinished.joined(separator: ", ")); see .experiment/logs/.") }
        let layouts = Set(timingRecords().map { "\($0.lanes) run(s) at once with \($0.threads) BLAS thread(s) each" }).sorted()
        notes.append(
            "Time: wall and CPU (user + system) seconds of each run's mmo-train processes, summed over invocations"
                + (layouts.isEmpty ? "" : " (\(layouts.joined(separator: "; ")))") + "; empty when no timing was recorded.")
        let csvURL = plan.results.appendingPathComponent("runs.csv")
        let summaryURL = plan.results.appendingPathComponent("summary.md")
        try ExperimentTables.csv(rows).write(to: csvURL, atomically: true, encoding: .utf8)
        try ExperimentTables.summary(rows, spec: plan.spec, variants: plan.spec.variants.map(\.name), models: models, notes: notes)
            .write(to: summaryURL, atomically: true, encoding: .utf8)
        events(.wrote(csvURL.path))
        events(.wrote(summaryURL.path))
        guard let report = reportExecutable else { return }
        guard FileManager.default.isExecutableFile(atPath: report.path) else {
            events(.warning("\(report.path) not found; no report (run mmo-report \(plan.results.path))"))
            return
        }
        let log = plan.stateFolder.appendingPathComponent("logs/report.log")
        try? FileManager.default.removeItem(at: log)
        let pid = try spawn([report.path, plan.results.path], log: log)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if describeExit(status, false).ok {
            events(.wrote(plan.results.appendingPathComponent("report.html").path))
        } else {
            events(.warning("mmo-report \(plan.results.path) failed (\(describeExit(status, false).text)); see \(log.path)"))
        }
    }
}

/// The newest step of a run in progress, from the tail of its metrics.jsonl.
func latestStep(_ folder: URL) -> Int? {
    guard let handle = try? FileHandle(forReadingFrom: RunDirectory(url: folder).metricsURL) else { return nil }
    defer { try? handle.close() }
    guard let end = try? handle.seekToEnd() else { return nil }
    try? handle.seek(toOffset: end > 8192 ? end - 8192 : 0)
    guard let data = try? handle.readToEnd() else { return nil }
    let text = String(decoding: data, as: UTF8.self)
    guard let range = text.range(of: "\"step\":[0-9]+,\"type\":\"step\"", options: [.regularExpression, .backwards]) else { return nil }
    return Int(text[range].dropFirst(7).prefix { $0.isNumber })
}

func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }

/// `exit N` / `killed by signal N`, and whether it is exit 0.
func describeExit(_ status: Int32, _ failed: Bool) -> (ok: Bool, text: String) {
    if failed { return (false, "could not be waited for") }
    if status & 0x7f == 0 {
        let code = (status >> 8) & 0xff
        return (code == 0, "exit \(code)")
    }
    return (false, "killed by signal \(status & 0x7f)")
}

/// Starts `arguments` (the first is the executable) in a process group of its own with default
/// SIGINT / SIGTERM handling, stdin from /dev/null, stdout and stderr appended to `log`.
func spawn(_ arguments: [String], log: URL) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    var attributes = posix_spawnattr_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawnattr_init(&attributes)
    defer {
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
    }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGINT)
    sigaddset(&defaults, SIGTERM)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
    if rc != 0 { throw ExperimentError("cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
    return pid
}
