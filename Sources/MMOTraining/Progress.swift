// Progress on stderr: a one-line bar redrawn in place on a terminal (steps/s, ETA, losses), plain
// periodic lines otherwise (logs, CI), nothing when quiet.
import Foundation

/// Reports training progress.
public final class ProgressReporter {
    public enum Mode { case bar, lines, quiet }
    public let mode: Mode
    private let total: Int
    private let every: Int
    private let start = Date()
    private var startStep: Int
    private var lastDraw = Date.distantPast

    public init(total: Int, startStep: Int, every: Int, mode: Mode? = nil) {
        self.total = total
        self.startStep = startStep
        self.every = max(1, every)
        self.mode = mode ?? (isatty(STDERR_FILENO) != 0 ? .bar : .lines)
    }

    /// Reports step `step` (1-based) with per-model losses.
    public func step(_ step: Int, epoch: Int, losses: [(String, Float)]) {
        let elapsed = Date().timeIntervalSince(start)
        let done = step - startStep
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - step) / rate : 0
        let lossText = losses.map { "\($0.0) \(String(format: "%.4f", $0.1))" }.joined(separator: "  ")
        switch mode {
        case .quiet: return
        case .bar:
            if Date().timeIntervalSince(lastDraw) < 0.1 && step != total { return }
            lastDraw = Date()
            let width = 24
            let filled = total > 0 ? min(width, width * step / total) : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(
                format: "\r[%@] %d/%d ep %d  %.2f st/s  eta %@  %@\u{1B}[K", bar, step, total, epoch, rate,
                ProgressReporter.clock(eta), lossText)
            FileHandle.standardError.write(Data(line.utf8))
        case .lines:
            guard step % every == 0 || step == total else { return }
            let line = String(
                format: "step %d/%d epoch %d  %.2f steps/s  eta %@  %@\n", step, total, epoch, rate,
                ProgressReporter.clock(eta), lossText)
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// Prints a message on its own line (ends a bar line first).
    public func message(_ text: String) {
        if mode == .quiet { return }
        let prefix = mode == .bar ? "\r\u{1B}[K" : ""
        FileHandle.standardError.write(Data((prefix + text + "\n").utf8))
    }

    /// Prints a message the user must see even when quiet (why the run stopped, how to resume).
    public func notice(_ text: String) {
        let prefix = mode == .bar ? "\r\u{1B}[K" : ""
        FileHandle.standardError.write(Data((prefix + text + "\n").utf8))
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
