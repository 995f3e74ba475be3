// Labelled text examples and the errors that loading them can raise. Everything above this layer
// sees data only as `LabeledDataset`: strings with a class index, and the ordered label names.

import MMOCore

/// One text with its class index into `LabeledDataset.labelNames`.
public struct LabeledExample: Hashable, Codable, Sendable {
    public var text: String
    public var label: Int

    public init(text: String, label: Int) {
        self.text = text
        self.label = label
    }
}

/// A list of labelled examples and the names of its classes (index = class id).
public struct LabeledDataset: Hashable, Codable, Sendable {
    public var examples: [LabeledExample]
    public var labelNames: [String]

    public init(examples: [LabeledExample], labelNames: [String]) {
        self.examples = examples
        self.labelNames = labelNames
    }

    public var count: Int { examples.count }

    /// Number of examples of each class, indexed like `labelNames`.
    public var labelCounts: [Int] {
        var counts = [Int](repeating: 0, count: labelNames.count)
        for e in examples where e.label >= 0 && e.label < counts.count { counts[e.label] += 1 }
        return counts
    }
}

/// Why data could not be loaded. Each case names the file (and row or field) and what to do.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case empty(path: String)
    case missingColumn(path: String, column: String, available: [String])
    case badRow(path: String, row: Int, reason: String)
    case unknownLabel(path: String, row: Int, label: String, known: [String])
    case invalidOption(field: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read the file (\(reason)); check the path in the config's data section"
        case .empty(let path):
            return "\(path): the dataset has no examples; a training or validation file needs at least one labelled row"
        case .missingColumn(let path, let column, let available):
            return "\(path): no column '\(column)' (columns: \(available.joined(separator: ", "))); set data.textColumn / data.labelColumn to one of them"
        case .badRow(let path, let row, let reason):
            return "\(path): row \(row): \(reason)"
        case .unknownLabel(let path, let row, let label, let known):
            return "\(path): row \(row): unknown label '\(label)' (known: \(known.joined(separator: ", "))); add it to data.labels or fix the row"
        case .invalidOption(let field, let reason):
            return "config field \(field): \(reason)"
        }
    }
}

extension LabeledDataset {
    /// FNV-1a 64 over label names, texts and labels: identifies the data a run was trained on,
    /// so that a resume against changed files is refused instead of silently diverging.
    public var fingerprint: String {
        var h = FNV1a64()
        func mix(_ bytes: some Sequence<UInt8>) {
            h.combine(bytes)
            h.combine(CollectionOfOne(0xFF))  // field separator: ("ab", "c") ≠ ("a", "bc")
        }
        for name in labelNames { mix(name.utf8) }
        for e in examples {
            mix(e.text.utf8)
            mix(String(e.label).utf8)
        }
        return String(h.value, radix: 16, uppercase: false)
    }
}
