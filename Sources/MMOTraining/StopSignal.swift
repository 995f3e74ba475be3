// SIGINT / SIGTERM → a flag the loop checks after each step, so that a stop always lands on a
// step boundary with a checkpoint written. A second signal while stopping calls the owner's
// `onSecondSignal` (the executable prints and exits; the library never exits the process).
import Dispatch
import Foundation

/// Watches SIGINT and SIGTERM while alive.
public final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var name = ""
    private var sources: [DispatchSourceSignal] = []
    private let onSecondSignal: @Sendable (String) -> Void

    /// Starts watching. `onSecondSignal` runs (on a background queue) when a second signal
    /// arrives while the first is being honoured; it receives the signal's name.
    public init(onSecondSignal: @escaping @Sendable (String) -> Void = { _ in }) {
        self.onSecondSignal = onSecondSignal
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.fire(sig) }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    private func fire(_ sig: Int32) {
        lock.lock()
        let second = requested
        requested = true
        name = sig == SIGINT ? "SIGINT" : "SIGTERM"
        let signalName = name
        lock.unlock()
        if second { onSecondSignal(signalName) }
    }

    /// Whether a stop was requested, and by which signal.
    public var stopRequested: (Bool, String) {
        lock.lock()
        defer { lock.unlock() }
        return (requested, name)
    }

    /// Requests a stop programmatically (tests).
    public func request() {
        lock.lock()
        requested = true
        name = "request"
        lock.unlock()
    }
}
