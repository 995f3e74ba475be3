// The rule of the on-disk layer: every public symbol of `Sources/MMORun` (the schema every tool
// reads) has a `///` summary. This test reads the sources, so the rule cannot silently break.
import Foundation
import XCTest

final class DocCoverageTests: XCTestCase {
    /// Every line of `Sources/MMORun/*.swift` that declares something `public` (its trimmed text
    /// starts with `public ` or `public(`) must follow a `///` line, skipping blank lines and
    /// attribute lines (`@discardableResult`, …) in between.
    func testEveryPublicSymbolOfMMORunHasADocSummary() throws {
        let folder = repositoryRoot.appendingPathComponent("Sources/MMORun")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".swift") }.sorted()
        XCTAssertFalse(files.isEmpty, "no Swift files in \(folder.path)")
        var undocumented: [String] = []
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            let lines = text.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            for (index, line) in lines.enumerated() where line.hasPrefix("public ") || line.hasPrefix("public(") {
                var previous = index - 1
                while previous >= 0 && (lines[previous].isEmpty || lines[previous].hasPrefix("@")) { previous -= 1 }
                if previous < 0 || !lines[previous].hasPrefix("///") {
                    undocumented.append("Sources/MMORun/\(file):\(index + 1): \(line)")
                }
            }
        }
        XCTAssert(
            undocumented.isEmpty,
            "\(undocumented.count) public declaration(s) without a /// summary:\n" + undocumented.joined(separator: "\n"))
    }
}
