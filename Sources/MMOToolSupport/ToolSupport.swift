// What every checkpoint tool shares at the edge: one exit-code convention, one way of printing
// errors, progress on a terminal, JSON output. The libraries below never print or exit; the thin
// executables do, through this.
//
// Exit codes (documented in every tool's --help):
//   0  success (for `mmo-diff --exact` and `mmo-inspect --verify`: identical / verified)
//   1  the answer is "no": files differ, a check failed
//   2  usage or input error: a bad flag, a missing or unreadable file, an incompatible input
import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The exit-code section every tool's `--help` ends with.
public let exitCodeHelp = """
    Exit status: 0 success; 1 the check failed (files differ, a blob is damaged); 2 usage or \
    input error (bad option, unreadable or incompatible file).
    """

/// A "no" answer: the tool ran correctly and the result is negative (exit 1). Its message has
/// already been printed, or is printed to stderr.
public struct CheckFailed: Error, CustomStringConvertible {
    /// Printed to stderr when not empty.
    public var description: String
    /// A negative result with an optional message.
    public init(_ message: String = "") { description = message }
}

/// An input error raised by a tool (exit 2), printed as `<tool>: error: <message>`.
public struct ToolError: Error, CustomStringConvertible {
    /// What is wrong and what to do.
    public var description: String
    /// An error with a message.
    public init(_ message: String) { description = message }
}

extension ParsableCommand {
    /// Parses the command line and runs the command with the tools' exit-code convention:
    /// help and version exit 0, `CheckFailed` exits 1, every other error prints its message
    /// and exits 2 (ArgumentParser's own usage errors included, which it would exit 64).
    public static func runTool() -> Never {
        let name = configuration.commandName ?? "tool"
        do {
            var command = try parseAsRoot()
            try command.run()
            Foundation.exit(0)
        } catch let failed as CheckFailed {
            if !failed.description.isEmpty { printError("\(name): \(failed.description)") }
            Foundation.exit(1)
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { Self.exit(withError: error) }  // --help, --version
            if error is ValidationError || code == .validationFailure {
                printError(fullMessage(for: error))
            } else {
                printError("\(name): error: \(error)")
            }
            Foundation.exit(2)
        }
    }
}

/// Writes a line to stderr.
public func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Encodes `value` as pretty JSON with sorted keys and prints it to stdout.
public func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A one-line progress indicator on stderr, shown only when stderr is a terminal (and
/// throttled to 10 updates a second), so pipes and logs stay clean.
public final class TerminalProgress {
    private let label: String
    private let total: Int
    private let enabled: Bool
    private var last = 0.0
    private var shown = false

    /// Progress over `total` units of work.
    public init(_ label: String, total: Int, enabled: Bool = isatty(2) == 1) {
        self.label = label
        self.total = max(1, total)
        self.enabled = enabled
    }

    /// Shows `done` of the total, with an optional note (e.g. the current item).
    public func update(_ done: Int, note: String = "") {
        guard enabled else { return }
        let now = Date().timeIntervalSinceReferenceDate
        if now - last < 0.1 && done < total { return }
        last = now
        let percent = 100 * done / total
        var line = "\(label) \(done)/\(total) (\(percent)%)"
        if !note.isEmpty { line += " " + note }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + String(line.prefix(120))).utf8))
        shown = true
    }

    /// Clears the line.
    public func finish() {
        guard enabled, shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        shown = false
    }
}

/// Renders rows as a plain aligned text table (first row = header), columns separated by two
/// spaces; numeric-looking cells are right-aligned.
public func textTable(_ rows: [[String]]) -> String {
    guard let width = rows.map(\.count).max(), width > 0 else { return "" }
    var widths = [Int](repeating: 0, count: width)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func numeric(_ s: String) -> Bool {
        guard let first = s.first else { return false }
        return first.isNumber || ((first == "-" || first == "+") && s.count > 1)
    }
    return rows.map { row in
        row.enumerated().map { i, cell in
            let pad = String(repeating: " ", count: widths[i] - cell.count)
            return numeric(cell) && row != rows[0] ? pad + cell : cell + pad
        }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }.joined(separator: "\n")
}

/// `1234567` → `1.2 MB` (decimal units, as `ls -h --si`).
public func byteCount(_ bytes: Int) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`), if known.
public func peakResidentBytes() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let digits = line.split(separator: " ").compactMap { Int($0) }
        if let kb = digits.first { return kb * 1024 }
    }
    return nil
}
