// The layout of a run folder and its retention policy:
//   config.json           the resolved configuration
//   metrics.jsonl         one JSON object per line (steps and evaluations)
//   step-NNNNNN.mmo       periodic checkpoints (the newest `keepLast` are kept)
//   last.mmo              the newest checkpoint (a hard link)
//   best-<model>.mmo      the checkpoint of each model's best validation accuracy (a hard link)
//   .lock                 flock'd by the process writing into the folder (holds its pid)
// Links are replaced by link-to-temporary + rename, so each name always holds a whole file.
import Foundation

/// A run folder.
public struct RunDirectory: Sendable {
    /// The folder (`runs/<name>-<yyyyMMdd-HHmmss>` by default, or `--run-dir`).
    public let url: URL

    /// The run folder at `url`; nothing is created until `create()`.
    public init(url: URL) { self.url = url }

    /// Creates the folder (and parents) if needed.
    public func create() throws {
        if let obstacle = folderObstacle(url) {
            throw TrainingError.io(path: url.path, reason: "cannot create the run folder: \(obstacle); choose another --run-dir")
        }
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.io(path: url.path, reason: "cannot create the run folder (\(systemReason(error)))")
        }
    }

    /// The lock file of the folder (`.lock`, holding the owner's pid).
    public var lockURL: URL { url.appendingPathComponent(".lock") }

    /// Takes the folder's exclusive lock for the life of the returned object: an advisory
    /// `flock` that the kernel releases when the process ends in any way (kill -9 included), so
    /// a lock is never stale. A second process gets an error naming the folder and the holder's
    /// pid. Writers into a run folder take it; readers don't need it.
    public func lock() throws -> RunLock {
        let fd = open(lockURL.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TrainingError.io(path: lockURL.path, reason: "cannot open the run folder's lock file: \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let reason = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buffer, buffer.count)
            close(fd)
            let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            if reason == EWOULDBLOCK {
                throw TrainingError.io(
                    path: url.path,
                    reason: "is in use by another process (pid \(holder)) writing into this run folder; wait for it to end or stop it (kill -INT \(holder)), or choose another --run-dir")
            }
            throw TrainingError.io(path: lockURL.path, reason: "cannot lock the run folder: \(String(cString: strerror(reason)))")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        return RunLock(descriptor: fd)
    }

    /// `config.json`: the resolved configuration of the run.
    public var configURL: URL { url.appendingPathComponent("config.json") }
    /// `metrics.jsonl`: one JSON line per step and per evaluation (`MetricsLog`).
    public var metricsURL: URL { url.appendingPathComponent("metrics.jsonl") }
    /// `last.mmo`: a hard link to the newest checkpoint.
    public var lastURL: URL { url.appendingPathComponent("last.mmo") }

    /// `step-NNNNNN.mmo`: the periodic checkpoint after optimizer step `step` (six digits, zero-padded).
    public func stepURL(_ step: Int) -> URL { url.appendingPathComponent(String(format: "step-%06d.mmo", step)) }
    /// `best-<model>.mmo`: a hard link to the checkpoint of `model`'s best validation accuracy.
    public func bestURL(model: String) -> URL { url.appendingPathComponent("best-\(model).mmo") }

    /// Step numbers of the `step-NNNNNN.mmo` files present, ascending.
    public func stepCheckpoints() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("step-"), name.hasSuffix(".mmo") else { return nil }
            return Int(name.dropFirst(5).dropLast(4))
        }.sorted()
    }

    /// Points `link` at `target` atomically (hard link to a temporary name, then rename).
    /// Temporaries of killed processes (`.<name>.link-<pid>`, pid gone) are removed first: each is
    /// a hard link that would keep an old checkpoint's bytes on disk for ever.
    public func link(_ link: URL, to target: URL) throws {
        let prefix = ".\(link.lastPathComponent).link-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [] where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) == -1, errno == ESRCH {
                unlink(url.appendingPathComponent(name).path)
            }
        }
        let temporary = url.appendingPathComponent(prefix + "\(getpid())")
        unlink(temporary.path)
        guard Foundation.link(target.path, temporary.path) == 0 else {
            throw TrainingError.io(path: link.path, reason: "cannot link to \(target.lastPathComponent): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary.path, link.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw TrainingError.io(path: link.path, reason: "cannot replace: \(reason)")
        }
    }

    /// Deletes step checkpoints beyond the newest `keep` (hard-linked names keep their data).
    public func prune(keep: Int) {
        let steps = stepCheckpoints()
        for step in steps.dropLast(keep) { try? FileManager.default.removeItem(at: stepURL(step)) }
    }
}

/// The exclusive lock of a run folder; released when this object goes away (or the process ends).
public final class RunLock {
    private let descriptor: Int32
    init(descriptor: Int32) { self.descriptor = descriptor }
    deinit { close(descriptor) }  // closing the descriptor releases the flock
}

/// Training failures that are not configuration or data errors.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A file or folder at `path` could not be created, locked, written or replaced; `reason` says
    /// why and what to do.
    case io(path: String, reason: String)
    /// A resume was asked to change `field` (a command-line flag or config field), which would
    /// change the run's trajectory or cannot apply to the checkpoint; `reason` says why.
    case incompatibleResume(field: String, reason: String)
    /// The checkpoint at `path` cannot be read, saved or used (corrupt, another producer, an
    /// invalid state field, a missing model or blob); `reason` says what is wrong.
    case checkpoint(path: String, reason: String)
    /// Model `model` had non-finite loss or gradients for `steps` consecutive steps (past
    /// `optimizer.maxConsecutiveSkips`); the run stopped after saving `checkpoint`.
    case diverged(model: String, steps: Int, checkpoint: String)

    /// The message shown to the user: the path or field, what is wrong and what to do.
    public var description: String {
        switch self {
        case .io(let path, let reason): return "\(path): \(reason)"
        case .incompatibleResume(let field, let reason):
            return "cannot resume with a different \(field): \(reason)"
        case .checkpoint(let path, let reason): return "\(path): \(reason)"
        case .diverged(let model, let steps, let checkpoint):
            return "model '\(model)' produced non-finite loss or gradients for \(steps) consecutive steps; stopped. The last good parameters of every model are saved in \(checkpoint) (skipped steps change nothing); a resumed run keeps its optimizer settings and would diverge again, so start a new run with a lower optimizer.learningRate or with optimizer.maxGradientNorm set"
        }
    }
}
