// Reads labelled text from GLUE SST-2 TSV, generic TSV / CSV with a header line, and JSONL.
// Every failure names the file and the row; labels are mapped through one ordered list so that
// training and validation agree on class ids.
import Foundation
import SwiftCSV

/// The on-disk layout of a labelled text file.
public enum TextFileFormat: String, Codable, CaseIterable, Sendable {
    /// Tab-separated with a header line, no quoting (GLUE's SST-2 `sentence<TAB>label`).
    case tsv
    /// Comma-separated with a header line, RFC 4180 quoting.
    case csv
    /// One JSON object per line.
    case jsonl
}

/// Where the text and the label of a row are, and how labels map to classes.
public struct TextFileOptions: Codable, Hashable, Sendable {
    public var format: TextFileFormat
    /// Header name (TSV/CSV) or key (JSONL) of the text.
    public var textColumn: String
    /// Header name or key of the label.
    public var labelColumn: String

    public init(format: TextFileFormat, textColumn: String = "sentence", labelColumn: String = "label") {
        self.format = format
        self.textColumn = textColumn
        self.labelColumn = labelColumn
    }

    /// Infers the format from a file extension (`.tsv`, `.csv`, `.jsonl`/`.json`).
    public static func format(forPath path: String) -> TextFileFormat? {
        switch (path as NSString).pathExtension.lowercased() {
        case "tsv", "txt": return .tsv
        case "csv": return .csv
        case "jsonl", "json", "ndjson": return .jsonl
        default: return nil
        }
    }
}

/// Loads labelled text files.
public enum DatasetLoader {
    /// Reads `path`. `labels` is the ordered list of raw label values (as written in the file:
    /// `0`/`1`, `negative`/`positive`, …); a row with another value is an error. With `labels`
    /// nil the distinct values of this file become the list, numerically sorted when all are
    /// integers, else alphabetically — pass the training list when loading validation data.
    /// Rows whose raw label is in `dropping` are left out before anything else (a three-class
    /// corpus read as two classes).
    public static func load(path: String, options: TextFileOptions, labels: [String]?, dropping: Set<String> = []) throws -> LabeledDataset {
        var rows = try readRows(path: path, options: options)
        if !dropping.isEmpty { rows.removeAll { dropping.contains($0.label) } }
        if rows.isEmpty { throw DataError.empty(path: path) }
        let names = labels ?? inferLabels(rows.map(\.label))
        if names.isEmpty { throw DataError.invalidOption(field: "data.labels", reason: "the label list is empty") }
        if Set(names).count != names.count {
            throw DataError.invalidOption(field: "data.labels", reason: "labels must be distinct, got \(names)")
        }
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var examples: [LabeledExample] = []
        examples.reserveCapacity(rows.count)
        for row in rows {
            guard let label = index[row.label] else {
                throw DataError.unknownLabel(path: path, row: row.number, label: row.label, known: names)
            }
            examples.append(LabeledExample(text: row.text, label: label))
        }
        return LabeledDataset(examples: examples, labelNames: names)
    }

    /// Reads the texts of `path` alone (language-model pretraining): the label column is not
    /// needed and not read. The examples have label 0 and the dataset no label names.
    public static func loadTexts(path: String, options: TextFileOptions) throws -> LabeledDataset {
        let rows = try readRows(path: path, options: options, labels: false)
        if rows.isEmpty { throw DataError.empty(path: path) }
        return LabeledDataset(examples: rows.map { LabeledExample(text: $0.text, label: 0) }, labelNames: [])
    }

    struct Row {
        var number: Int  // 1-based line/record number in the file, header included
        var text: String
        var label: String
    }

    static func inferLabels(_ values: [String]) -> [String] {
        let distinct = Array(Set(values))
        let ints = distinct.compactMap { Int($0) }
        if ints.count == distinct.count { return ints.sorted().map(String.init) }
        return distinct.sorted()
    }

    static func readText(path: String) throws -> String {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let text = String(data: data, encoding: .utf8) else {
                throw DataError.unreadable(path: path, reason: "not valid UTF-8")
            }
            return text
        } catch let error as DataError {
            throw error
        } catch {
            throw DataError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    static func readRows(path: String, options: TextFileOptions, labels: Bool = true) throws -> [Row] {
        let text = try readText(path: path)
        switch options.format {
        case .tsv: return try tableRows(path: path, options: options, table: splitTSV(text), labels: labels)
        case .csv:
            let csv: CSV<Enumerated>
            do {
                csv = try CSV<Enumerated>(string: text, delimiter: .comma, loadColumns: false)
            } catch {
                throw DataError.badRow(path: path, row: 0, reason: "CSV does not parse: \(error)")
            }
            return try tableRows(path: path, options: options, table: [csv.header] + csv.rows, labels: labels)
        case .jsonl: return try jsonlRows(path: path, options: options, text: text, labels: labels)
        }
    }

    static func splitTSV(_ text: String) -> [[String]] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .filter { !$0.allSatisfy(\.isWhitespace) }
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    /// Rows of a table; with `labels` false the label column is neither required nor read.
    static func tableRows(path: String, options: TextFileOptions, table: [[String]], labels: Bool = true) throws -> [Row] {
        guard let header = table.first else { throw DataError.empty(path: path) }
        let names = header.map { $0.trimmingCharacters(in: .whitespaces) }
        guard let textIndex = names.firstIndex(of: options.textColumn) else {
            throw DataError.missingColumn(path: path, column: options.textColumn, available: names)
        }
        let labelIndex: Int
        if !labels {
            labelIndex = textIndex
        } else if let index = names.firstIndex(of: options.labelColumn) {
            labelIndex = index
        } else {
            throw DataError.missingColumn(path: path, column: options.labelColumn, available: names)
        }
        var rows: [Row] = []
        rows.reserveCapacity(table.count - 1)
        for (i, fields) in table.dropFirst().enumerated() {
            let number = i + 2
            if fields.count == 1 && fields[0].isEmpty { continue }
            guard fields.count > max(textIndex, labelIndex) else {
                throw DataError.badRow(
                    path: path, row: number,
                    reason: "\(fields.count) fields, the header has \(names.count); check the separator")
            }
            let label = labels ? fields[labelIndex].trimmingCharacters(in: .whitespaces) : ""
            if labels && label.isEmpty { throw DataError.badRow(path: path, row: number, reason: "empty label") }
            rows.append(Row(number: number, text: fields[textIndex], label: label))
        }
        return rows
    }

    static func jsonlRows(path: String, options: TextFileOptions, text: String, labels: Bool = true) throws -> [Row] {
        var rows: [Row] = []
        for (i, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.allSatisfy(\.isWhitespace) { continue }
            let number = i + 1
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw DataError.badRow(path: path, row: number, reason: "not a JSON object")
            }
            guard let text = object[options.textColumn] as? String else {
                throw DataError.badRow(path: path, row: number, reason: "no string field '\(options.textColumn)'")
            }
            let label: String
            let rawLabel: Any? = labels ? object[options.labelColumn] : ""
            switch rawLabel {
            case let s as String: label = s
            case let n as NSNumber:
                label = n.doubleValue == n.doubleValue.rounded() ? String(n.intValue) : n.stringValue
            default:
                throw DataError.badRow(path: path, row: number, reason: "no string or number field '\(options.labelColumn)'")
            }
            rows.append(Row(number: number, text: text, label: label))
        }
        return rows
    }
}
