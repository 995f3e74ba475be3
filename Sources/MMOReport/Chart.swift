// Charts as data and as inline SVG strings: line charts (axes with ticks, legend, min–max bands,
// optional markers) and scatter charts (points per group, optionally joined in order). The data
// model is what the tests check against metrics.jsonl; the renderer maps it to pixels with the
// chart's `layout()`, so a polyline's points are exactly `layout().pixel(point)` of its series.
// Every element that carries data names its series in a `data-series` attribute.
import Foundation

/// One data point.
public struct ChartPoint: Equatable, Sendable {
    public var x: Double
    public var y: Double
    public init(_ x: Double, _ y: Double) {
        self.x = x
        self.y = y
    }
}

/// The Okabe–Ito palette (distinguishable with the common colour-vision deficiencies), yellow last
/// because it is weak on white.
public enum Palette {
    public static let colors = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]
    /// The colour of index `i` (cycling).
    public static func color(_ i: Int) -> String { colors[((i % colors.count) + colors.count) % colors.count] }
}

/// A line of a line chart.
public struct ChartSeries: Sendable {
    /// Unique within the chart; written as `data-series`.
    public var id: String
    /// Legend text.
    public var label: String
    /// In x order. Non-finite y values break the line.
    public var points: [ChartPoint]
    /// Palette index.
    public var color: Int
    public var lineWidth: Double = 2
    public var opacity: Double = 1
    public var dashed = false
    /// Dots at every point (drawn anyway when the series has at most 60 points and `markers` is nil).
    public var markers: Bool? = nil
    /// Whether the legend lists it.
    public var inLegend = true

    public init(
        id: String, label: String, points: [ChartPoint], color: Int, lineWidth: Double = 2, opacity: Double = 1,
        dashed: Bool = false, markers: Bool? = nil, inLegend: Bool = true
    ) {
        self.id = id
        self.label = label
        self.points = points
        self.color = color
        self.lineWidth = lineWidth
        self.opacity = opacity
        self.dashed = dashed
        self.markers = markers
        self.inLegend = inLegend
    }

    /// Whether dots are drawn.
    public var showsMarkers: Bool { markers ?? (points.count <= 60) }
}

/// A shaded area between two curves at the same x values (e.g. min and max over seeds).
public struct ChartBand: Sendable {
    /// Written as `data-band`.
    public var id: String
    public var label: String
    public var x: [Double]
    public var lower: [Double]
    public var upper: [Double]
    public var color: Int
    public var inLegend = false

    public init(id: String, label: String, x: [Double], lower: [Double], upper: [Double], color: Int, inLegend: Bool = false) {
        self.id = id
        self.label = label
        self.x = x
        self.lower = lower
        self.upper = upper
        self.color = color
        self.inLegend = inLegend
    }
}

/// A line chart.
public struct LineChart: Sendable {
    /// Written as the SVG's `data-chart`.
    public var id: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [ChartSeries]
    public var bands: [ChartBand] = []
    /// Fixed y range (e.g. 0…1 for accuracy); otherwise from the data, extended to round ticks.
    public var yDomain: ClosedRange<Double>? = nil
    /// Pixel size (the SVG is drawn at this size).
    public var width: Double = 600
    public var height: Double = 340

    public init(
        id: String, title: String, xLabel: String, yLabel: String, series: [ChartSeries], bands: [ChartBand] = [],
        yDomain: ClosedRange<Double>? = nil, width: Double = 600, height: Double = 340
    ) {
        self.id = id
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.bands = bands
        self.yDomain = yDomain
        self.width = width
        self.height = height
    }
}

/// One group of a scatter chart (e.g. a model's points over checkpoints).
public struct ScatterGroup: Sendable {
    public var id: String
    public var label: String
    public var points: [ChartPoint]
    /// A note per point, shown as its tooltip and, when `annotate` holds, beside it.
    public var notes: [String]
    public var color: Int
    /// Join the points in order with a thin line (a trajectory).
    public var connect = true
    /// Indices of points whose note is written beside them (e.g. first and last).
    public var annotate: [Int] = []

    public init(id: String, label: String, points: [ChartPoint], notes: [String], color: Int, connect: Bool = true, annotate: [Int] = []) {
        self.id = id
        self.label = label
        self.points = points
        self.notes = notes
        self.color = color
        self.connect = connect
        self.annotate = annotate
    }
}

/// A scatter chart.
public struct ScatterChart: Sendable {
    public var id: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var groups: [ScatterGroup]
    public var width: Double = 600
    public var height: Double = 420

    public init(id: String, title: String, xLabel: String, yLabel: String, groups: [ScatterGroup], width: Double = 600, height: Double = 420) {
        self.id = id
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.groups = groups
        self.width = width
        self.height = height
    }
}

/// A linear map from a data interval to a pixel interval.
public struct LinearScale: Equatable, Sendable {
    public var domain: ClosedRange<Double>
    public var range: ClosedRange<Double>
    /// Whether the pixel axis runs backwards (y: larger values higher up).
    public var flipped: Bool

    public func map(_ v: Double) -> Double {
        let span = domain.upperBound - domain.lowerBound
        let t = span > 0 ? (v - domain.lowerBound) / span : 0.5
        let u = flipped ? 1 - t : t
        return range.lowerBound + u * (range.upperBound - range.lowerBound)
    }

    /// The data value at pixel `p` (the inverse of `map`).
    public func invert(_ p: Double) -> Double {
        let u = (p - range.lowerBound) / (range.upperBound - range.lowerBound)
        let t = flipped ? 1 - u : u
        return domain.lowerBound + t * (domain.upperBound - domain.lowerBound)
    }
}

/// Round tick values: steps of 1, 2 or 5 × 10^k.
public enum Ticks {
    /// A round step for about `count` intervals over `span`.
    public static func step(span: Double, count: Int) -> Double {
        guard span > 0, span.isFinite else { return 1 }
        let raw = span / Double(max(1, count))
        let magnitude = pow(10, floor(log10(raw)))
        let f = raw / magnitude
        let nice: Double = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10
        return nice * magnitude
    }

    /// `range` widened to the nearest multiples of its tick step, with the ticks.
    public static func nice(_ range: ClosedRange<Double>, count: Int = 5) -> (domain: ClosedRange<Double>, ticks: [Double], step: Double) {
        var lo = range.lowerBound, hi = range.upperBound
        if !(lo.isFinite && hi.isFinite) { lo = 0; hi = 1 }
        if hi - lo <= 0 {
            let pad = lo == 0 ? 1 : Swift.abs(lo) * 0.1
            lo -= pad
            hi += pad
        }
        let s = step(span: hi - lo, count: count)
        let start = (lo / s).rounded(.down) * s, end = (hi / s).rounded(.up) * s
        return (start...end, ticks(start...end, step: s), s)
    }

    /// Multiples of `step` inside `domain` (snapped to the step to avoid 0.30000000000000004).
    public static func ticks(_ domain: ClosedRange<Double>, step s: Double) -> [Double] {
        guard s > 0 else { return [domain.lowerBound] }
        var out: [Double] = []
        var k = (domain.lowerBound / s - 1e-9).rounded(.up)
        while k * s <= domain.upperBound + s * 1e-9 && out.count < 100 {
            let v = k * s
            out.append(Swift.abs(v) < s * 1e-9 ? 0 : v)
            k += 1
        }
        return out
    }

    /// A tick label for `value` on an axis of tick `step` whose ticks are `axis`: as many
    /// decimals as the step needs; scientific notation (`3e-5`, `2.5e-4`) for the whole axis when
    /// its largest tick is below 0.001 or from 10⁶ on.
    public static func label(_ value: Double, step: Double, axis: [Double] = []) -> String {
        if value == 0 { return "0" }
        let magnitude = (axis + [value]).map { Swift.abs($0) }.max()!
        if magnitude < 1e-3 || magnitude >= 1e6 {
            let exponent = Int(floor(log10(Swift.abs(value))))
            let mantissa = value / pow(10, Double(exponent))
            let stepMantissa = step / pow(10, Double(exponent))
            let decimals = Swift.max(0, Swift.min(3, Int(ceil(-log10(stepMantissa) - 1e-9))))
            var m = String(format: "%.\(decimals)f", mantissa)
            if m.contains(".") {
                while m.hasSuffix("0") { m.removeLast() }
                if m.hasSuffix(".") { m.removeLast() }
            }
            return "\(m)e\(exponent)"
        }
        let decimals = Swift.max(0, Int(ceil(-log10(step) - 1e-9)))
        return String(format: "%.\(decimals)f", value)
    }
}

/// Where a chart draws: its plot rectangle, scales, ticks and legend rows.
public struct ChartLayout: Sendable {
    public var x: LinearScale
    public var y: LinearScale
    public var xTicks: [Double]
    public var yTicks: [Double]
    public var xStep: Double
    public var yStep: Double
    /// Legend items per row (label, colour index, kind).
    public var legendRows: [[LegendItem]]
    /// Top of the plot area.
    public var plotTop: Double
    public var plotLeft: Double
    public var plotRight: Double
    public var plotBottom: Double

    /// The pixel position of a data point.
    public func pixel(_ p: ChartPoint) -> (Double, Double) { (x.map(p.x), y.map(p.y)) }
}

/// A legend entry.
public struct LegendItem: Sendable, Equatable {
    public enum Mark: Sendable { case line, dashed, band, dot }
    public var label: String
    public var color: Int
    public var mark: Mark
}

/// Rough text width at the charts' 12 px font (for legend wrapping and margins).
func textWidth(_ s: String, size: Double = 12) -> Double { Double(s.count) * size * 0.58 }

private func layoutFor(
    width: Double, height: Double, xRange: ClosedRange<Double>?, yRange: ClosedRange<Double>?, fixedY: ClosedRange<Double>?,
    legend: [LegendItem], extendY: Bool = true
) -> ChartLayout {
    // x: the data's own range (steps from 0 when they start near it), ticks inside it.
    var xr = xRange ?? 0...1
    if xr.lowerBound > 0 && xr.lowerBound <= 0.25 * xr.upperBound { xr = 0...xr.upperBound }
    if xr.upperBound <= xr.lowerBound { xr = Ticks.nice(xr).domain }
    let xStep = Ticks.step(span: xr.upperBound - xr.lowerBound, count: Swift.max(4, Int(width / 90)))
    let xn = (domain: xr, ticks: Ticks.ticks(xr, step: xStep), step: xStep)
    let yn: (domain: ClosedRange<Double>, ticks: [Double], step: Double)
    if let fixedY {
        let s = Ticks.step(span: fixedY.upperBound - fixedY.lowerBound, count: 5)
        yn = (fixedY, Ticks.ticks(fixedY, step: s), s)
    } else if extendY {
        yn = Ticks.nice(yRange ?? 0...1, count: Swift.max(3, Int(height / 60)))
    } else {
        var yr = yRange ?? 0...1
        if yr.upperBound <= yr.lowerBound { yr = Ticks.nice(yr).domain }
        let s = Ticks.step(span: yr.upperBound - yr.lowerBound, count: Swift.max(3, Int(height / 60)))
        yn = (yr, Ticks.ticks(yr, step: s), s)
    }
    let longestY = yn.ticks.map { Ticks.label($0, step: yn.step, axis: yn.ticks) }.map { textWidth($0) }.max() ?? 20
    let left = Swift.max(48, longestY + 34)
    let right = width - 18
    // Legend rows under the title.
    var rows: [[LegendItem]] = []
    var current: [LegendItem] = []
    var used = 0.0
    let available = right - left
    for item in legend {
        let w = 26 + textWidth(item.label) + 14
        if used + w > available && !current.isEmpty {
            rows.append(current)
            current = []
            used = 0
        }
        current.append(item)
        used += w
    }
    if !current.isEmpty { rows.append(current) }
    let top = 30 + Double(rows.count) * 18 + 8
    let bottom = height - 46
    return ChartLayout(
        x: LinearScale(domain: xn.domain, range: left...right, flipped: false),
        y: LinearScale(domain: yn.domain, range: top...bottom, flipped: true),
        xTicks: xn.ticks, yTicks: yn.ticks, xStep: xn.step, yStep: yn.step, legendRows: rows, plotTop: top, plotLeft: left,
        plotRight: right, plotBottom: bottom)
}

private func range(_ values: [Double]) -> ClosedRange<Double>? {
    let finite = values.filter(\.isFinite)
    guard let lo = finite.min(), let hi = finite.max() else { return nil }
    return lo...hi
}

extension LineChart {
    /// Legend entries: listed series, then listed bands.
    public var legendItems: [LegendItem] {
        series.filter(\.inLegend).map { LegendItem(label: $0.label, color: $0.color, mark: $0.dashed ? .dashed : .line) }
            + bands.filter(\.inLegend).map { LegendItem(label: $0.label, color: $0.color, mark: .band) }
    }

    /// Whether anything is drawn.
    public var isEmpty: Bool { series.allSatisfy { $0.points.allSatisfy { !$0.y.isFinite } } && bands.isEmpty }

    /// Scales, ticks and legend rows.
    public func layout() -> ChartLayout {
        let xs = series.flatMap { $0.points.map(\.x) } + bands.flatMap(\.x)
        let ys = series.flatMap { $0.points.map(\.y) } + bands.flatMap { $0.lower + $0.upper }
        return layoutFor(width: width, height: height, xRange: range(xs), yRange: range(ys), fixedY: yDomain, legend: legendItems)
    }

    /// The finite runs of a series' points (a non-finite value ends one).
    public static func segments(_ points: [ChartPoint]) -> [[ChartPoint]] {
        var out: [[ChartPoint]] = []
        var current: [ChartPoint] = []
        for p in points {
            if p.x.isFinite && p.y.isFinite {
                current.append(p)
            } else if !current.isEmpty {
                out.append(current)
                current = []
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}

extension ScatterChart {
    public var legendItems: [LegendItem] { groups.map { LegendItem(label: $0.label, color: $0.color, mark: .dot) } }

    /// Scales with some room around the points (an equal-aspect view is not forced).
    public func layout() -> ChartLayout {
        let xs = groups.flatMap { $0.points.map(\.x) }, ys = groups.flatMap { $0.points.map(\.y) }
        func padded(_ r: ClosedRange<Double>?) -> ClosedRange<Double>? {
            guard let r else { return nil }
            let pad = Swift.max((r.upperBound - r.lowerBound) * 0.08, 1e-12)
            return (r.lowerBound - pad)...(r.upperBound + pad)
        }
        return layoutFor(
            width: width, height: height, xRange: padded(range(xs)), yRange: padded(range(ys)), fixedY: nil, legend: legendItems, extendY: false)
    }
}

/// Escapes text for XML character data and attribute values.
public func xmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}

/// A pixel coordinate as written in the SVG (2 decimals).
public func svgNumber(_ v: Double) -> String { String(format: "%.2f", v) }

/// Renders charts as inline SVG (no namespace URL: inline SVG in HTML does not need one).
public enum SVG {
    private static let font = "font-family=\"system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif\""

    /// The `points` attribute of a polyline through `points`.
    public static func pointList(_ points: [ChartPoint], _ layout: ChartLayout) -> String {
        points.map { p in
            let (px, py) = layout.pixel(p)
            return "\(svgNumber(px)),\(svgNumber(py))"
        }.joined(separator: " ")
    }

    static func frame(
        id: String, kind: String, width: Double, height: Double, title: String, xLabel: String, yLabel: String, layout l: ChartLayout,
        body: String
    ) -> String {
        var s = "<svg class=\"chart\" data-chart=\"\(xmlEscape(id))\" data-kind=\"\(kind)\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
        s += "viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(xmlEscape(title))\" \(font) font-size=\"12\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#ffffff\"/>\n"
        s += "<text x=\"\(svgNumber(l.plotLeft))\" y=\"19\" font-size=\"14\" font-weight=\"600\" fill=\"#222\">\(xmlEscape(title))</text>\n"
        // Legend.
        for (r, row) in l.legendRows.enumerated() {
            var x = l.plotLeft
            let y = 30 + Double(r) * 18 + 9
            for item in row {
                let c = Palette.color(item.color)
                switch item.mark {
                case .line:
                    s += "<line x1=\"\(svgNumber(x))\" y1=\"\(svgNumber(y))\" x2=\"\(svgNumber(x + 20))\" y2=\"\(svgNumber(y))\" stroke=\"\(c)\" stroke-width=\"2.5\"/>"
                case .dashed:
                    s += "<line x1=\"\(svgNumber(x))\" y1=\"\(svgNumber(y))\" x2=\"\(svgNumber(x + 20))\" y2=\"\(svgNumber(y))\" stroke=\"\(c)\" stroke-width=\"2.5\" stroke-dasharray=\"5 3\"/>"
                case .band:
                    s += "<rect x=\"\(svgNumber(x))\" y=\"\(svgNumber(y - 6))\" width=\"20\" height=\"12\" fill=\"\(c)\" fill-opacity=\"0.25\"/>"
                case .dot:
                    s += "<circle cx=\"\(svgNumber(x + 10))\" cy=\"\(svgNumber(y))\" r=\"4.5\" fill=\"\(c)\"/>"
                }
                s += "<text class=\"legend\" x=\"\(svgNumber(x + 26))\" y=\"\(svgNumber(y + 4))\" fill=\"#222\">\(xmlEscape(item.label))</text>\n"
                x += 26 + textWidth(item.label) + 14
            }
        }
        // Grid and ticks.
        let left = l.plotLeft, right = l.plotRight, top = l.plotTop, bottom = l.plotBottom
        for t in l.yTicks {
            let y = l.y.map(t)
            s += "<line x1=\"\(svgNumber(left))\" y1=\"\(svgNumber(y))\" x2=\"\(svgNumber(right))\" y2=\"\(svgNumber(y))\" stroke=\"#e3e3e3\"/>"
            s += "<text class=\"tick\" x=\"\(svgNumber(left - 6))\" y=\"\(svgNumber(y + 4))\" text-anchor=\"end\" fill=\"#444\">\(Ticks.label(t, step: l.yStep, axis: l.yTicks))</text>\n"
        }
        for t in l.xTicks {
            let x = l.x.map(t)
            s += "<line x1=\"\(svgNumber(x))\" y1=\"\(svgNumber(top))\" x2=\"\(svgNumber(x))\" y2=\"\(svgNumber(bottom))\" stroke=\"#f0f0f0\"/>"
            s += "<line x1=\"\(svgNumber(x))\" y1=\"\(svgNumber(bottom))\" x2=\"\(svgNumber(x))\" y2=\"\(svgNumber(bottom + 5))\" stroke=\"#444\"/>"
            s += "<text class=\"tick\" x=\"\(svgNumber(x))\" y=\"\(svgNumber(bottom + 18))\" text-anchor=\"middle\" fill=\"#444\">\(Ticks.label(t, step: l.xStep, axis: l.xTicks))</text>\n"
        }
        let clip = "clip-" + id.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
        s += "<clipPath id=\"\(clip)\"><rect x=\"\(svgNumber(left - 6))\" y=\"\(svgNumber(top - 6))\" width=\"\(svgNumber(right - left + 12))\" height=\"\(svgNumber(bottom - top + 12))\"/></clipPath>\n"
        s += "<g clip-path=\"url(#\(clip))\">\n" + body + "</g>\n"
        // Axes on top of the data.
        s += "<line x1=\"\(svgNumber(left))\" y1=\"\(svgNumber(bottom))\" x2=\"\(svgNumber(right))\" y2=\"\(svgNumber(bottom))\" stroke=\"#444\"/>"
        s += "<line x1=\"\(svgNumber(left))\" y1=\"\(svgNumber(top))\" x2=\"\(svgNumber(left))\" y2=\"\(svgNumber(bottom))\" stroke=\"#444\"/>\n"
        s += "<text class=\"axis-label\" x=\"\(svgNumber((left + right) / 2))\" y=\"\(svgNumber(height - 8))\" text-anchor=\"middle\" fill=\"#222\">\(xmlEscape(xLabel))</text>\n"
        let cy = (top + bottom) / 2
        s += "<text class=\"axis-label\" x=\"14\" y=\"\(svgNumber(cy))\" text-anchor=\"middle\" fill=\"#222\" transform=\"rotate(-90 14 \(svgNumber(cy)))\">\(xmlEscape(yLabel))</text>\n"
        return s + "</svg>"
    }

    /// A line chart.
    public static func render(_ chart: LineChart) -> String {
        let l = chart.layout()
        var body = ""
        if chart.isEmpty {
            body += "<text x=\"\(svgNumber((l.plotLeft + l.plotRight) / 2))\" y=\"\(svgNumber((l.plotTop + l.plotBottom) / 2))\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n"
        }
        for band in chart.bands {
            let upper = zip(band.x, band.upper).map { ChartPoint($0, $1) }
            let lower = zip(band.x, band.lower).map { ChartPoint($0, $1) }.reversed()
            body += "<polygon data-band=\"\(xmlEscape(band.id))\" points=\"\(pointList(upper + lower, l))\" fill=\"\(Palette.color(band.color))\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
        }
        // Dots of later series are smaller, so that equal values of several series show as rings.
        let dotted = chart.series.filter(\.showsMarkers).map(\.id)
        for series in chart.series {
            let c = Palette.color(series.color)
            let grow = dotted.count > 1 ? Swift.min(1.4, 3.5 / Double(dotted.count - 1)) : 0
            let radius = 2.5 + grow * Double(dotted.count - 1 - (dotted.firstIndex(of: series.id) ?? 0))
            let dash = series.dashed ? " stroke-dasharray=\"6 4\"" : ""
            for (k, segment) in segments(series.points).enumerated() {
                body += "<polyline data-series=\"\(xmlEscape(series.id))\" data-segment=\"\(k)\" points=\"\(pointList(segment, l))\" fill=\"none\" stroke=\"\(c)\" "
                body += "stroke-width=\"\(series.lineWidth)\" stroke-opacity=\"\(series.opacity)\" stroke-linejoin=\"round\"\(dash)/>\n"
            }
            if series.showsMarkers {
                for p in series.points where p.x.isFinite && p.y.isFinite {
                    let (px, py) = l.pixel(p)
                    body += "<circle data-series=\"\(xmlEscape(series.id))\" cx=\"\(svgNumber(px))\" cy=\"\(svgNumber(py))\" r=\"\(svgNumber(radius))\" fill=\"\(c)\" fill-opacity=\"\(series.opacity)\">"
                    body += "<title>\(xmlEscape(series.label)): \(plain(p.x)), \(plain(p.y))</title></circle>\n"
                }
            }
        }
        return frame(
            id: chart.id, kind: "line", width: chart.width, height: chart.height, title: chart.title, xLabel: chart.xLabel,
            yLabel: chart.yLabel, layout: l, body: body)
    }

    /// A scatter chart.
    public static func render(_ chart: ScatterChart) -> String {
        let l = chart.layout()
        var body = ""
        for group in chart.groups {
            let c = Palette.color(group.color)
            if group.connect && group.points.count > 1 {
                body += "<polyline data-trajectory=\"\(xmlEscape(group.id))\" points=\"\(pointList(group.points, l))\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"1.2\" stroke-opacity=\"0.6\"/>\n"
            }
            for (i, p) in group.points.enumerated() {
                let (px, py) = l.pixel(p)
                let note = i < group.notes.count ? group.notes[i] : ""
                let first = i == 0 && group.points.count > 1, last = i == group.points.count - 1
                body += "<circle data-series=\"\(xmlEscape(group.id))\" data-index=\"\(i)\" cx=\"\(svgNumber(px))\" cy=\"\(svgNumber(py))\" r=\"\(first || last ? 5.5 : 4)\" "
                body += first ? "fill=\"#ffffff\" stroke=\"\(c)\" stroke-width=\"2\">"
                    : last ? "fill=\"\(c)\" stroke=\"#222\" stroke-width=\"1.5\">" : "fill=\"\(c)\" fill-opacity=\"0.85\">"
                body += "<title>\(xmlEscape(group.label)) \(xmlEscape(note)): (\(plain(p.x)), \(plain(p.y)))</title></circle>\n"
                if group.annotate.contains(i) && !note.isEmpty {
                    let anchorRight = px > (l.plotLeft + l.plotRight) / 2
                    body += "<text x=\"\(svgNumber(px + (anchorRight ? -8 : 8)))\" y=\"\(svgNumber(py - 7))\" text-anchor=\"\(anchorRight ? "end" : "start")\" font-size=\"11\" fill=\"\(c)\">\(xmlEscape(note))</text>\n"
                }
            }
        }
        return frame(
            id: chart.id, kind: "scatter", width: chart.width, height: chart.height, title: chart.title, xLabel: chart.xLabel,
            yLabel: chart.yLabel, layout: l, body: body)
    }

    static func segments(_ points: [ChartPoint]) -> [[ChartPoint]] { LineChart.segments(points) }

    /// A number for a tooltip.
    static func plain(_ v: Double) -> String {
        if v == v.rounded() && Swift.abs(v) < 1e9 { return String(Int(v)) }
        return String(format: "%.5g", v)
    }
}

/// For drawing a long series at pixel resolution: the points split into `bins` runs of
/// consecutive points, and of each run the lowest and the highest (in x order), plus the first
/// and the last point. Every point kept is one of the input; spikes survive. A series of at most
/// `2 × bins` points is returned as it is.
public func decimate(_ points: [ChartPoint], bins: Int = 800) -> [ChartPoint] {
    guard bins > 0, points.count > 2 * bins else { return points }
    var out: [ChartPoint] = [points[0]]
    let n = points.count
    for b in 0..<bins {
        let lo = b * n / bins, hi = (b + 1) * n / bins
        guard lo < hi else { continue }
        var minIndex = -1, maxIndex = -1
        for i in lo..<hi where points[i].y.isFinite {
            if minIndex < 0 || points[i].y < points[minIndex].y { minIndex = i }
            if maxIndex < 0 || points[i].y > points[maxIndex].y { maxIndex = i }
        }
        // A bin with a non-finite value keeps it, so the line still breaks there.
        if let gap = (lo..<hi).first(where: { !points[$0].y.isFinite }) {
            let keep = [minIndex, gap, maxIndex].filter { $0 >= 0 }
            for i in Set(keep).sorted() where i != 0 && i != n - 1 { out.append(points[i]) }
            continue
        }
        for i in Set([minIndex, maxIndex]).sorted() where i != 0 && i != n - 1 { out.append(points[i]) }
    }
    out.append(points[n - 1])
    return out
}
