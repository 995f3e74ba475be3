// The chart module and the numerics under the report: ticks and labels, scales, SVG polylines
// made of exactly the series' points, bands, escaping, smoothing, the eigen-solver and PCA.
import Foundation
import XCTest

@testable import MMOReport

final class ChartTests: XCTestCase {
    func testTicksAreRoundAndCoverTheData() {
        let n = Ticks.nice(0.13...0.92)
        XCTAssertEqual(n.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(n.domain.lowerBound, 0, accuracy: 1e-12)
        XCTAssertEqual(n.domain.upperBound, 1, accuracy: 1e-12)
        XCTAssertEqual(n.ticks.map { Ticks.label($0, step: n.step, axis: n.ticks) }, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        XCTAssertEqual(Ticks.ticks(0...120, step: Ticks.step(span: 120, count: 5)), [0, 50, 100])
        XCTAssertEqual(Ticks.ticks(0...120, step: Ticks.step(span: 120, count: 6)), [0, 20, 40, 60, 80, 100, 120])
        // A constant series still gets an axis.
        let flat = Ticks.nice(0.5...0.5)
        XCTAssertLessThan(flat.domain.lowerBound, 0.5)
        XCTAssertGreaterThan(flat.domain.upperBound, 0.5)
    }

    func testSmallLearningRatesGetScientificLabelsOnTheWholeAxis() {
        let n = Ticks.nice(0...3e-5)
        let labels = n.ticks.map { Ticks.label($0, step: n.step, axis: n.ticks) }
        XCTAssertEqual(labels.first, "0")
        XCTAssertTrue(labels.dropFirst().allSatisfy { $0.contains("e-") }, "\(labels)")
        XCTAssertTrue(labels.contains("3e-5"), "\(labels)")
        // Up to 0.0015 the axis stays decimal, consistently.
        let m = Ticks.nice(0...0.0012)
        let decimal = m.ticks.map { Ticks.label($0, step: m.step, axis: m.ticks) }
        XCTAssertFalse(decimal.contains { $0.contains("e") }, "\(decimal)")
    }

    func testScalesInvert() {
        let s = LinearScale(domain: 2...10, range: 40...400, flipped: true)
        XCTAssertEqual(s.map(2), 400)
        XCTAssertEqual(s.map(10), 40)
        XCTAssertEqual(s.invert(s.map(7.3)), 7.3, accuracy: 1e-12)
    }

    func testPolylinesAreTheSeriesPointsAndNonFiniteValuesBreakThem() throws {
        let points = [ChartPoint(1, 0.9), ChartPoint(2, 0.7), ChartPoint(3, .nan), ChartPoint(4, 0.5), ChartPoint(5, 0.4)]
        let chart = LineChart(
            id: "t", title: "T <&>", xLabel: "step", yLabel: "loss",
            series: [ChartSeries(id: "a", label: "model \"a\"", points: points, color: 0)],
            bands: [ChartBand(id: "b", label: "band", x: [1, 2], lower: [0.1, 0.2], upper: [0.3, 0.4], color: 1)])
        let svg = SVG.render(chart)
        let layout = chart.layout()
        let lines = elements("polyline", in: svg)
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(attribute("points", in: lines[0]), SVG.pointList(Array(points[0..<2]), layout))
        XCTAssertEqual(attribute("points", in: lines[1]), SVG.pointList(Array(points[3...]), layout))
        // Back from pixels to data (2-decimal pixels).
        let coordinates = attribute("points", in: lines[1])!.split(separator: " ").map { $0.split(separator: ",").map { Double($0)! } }
        for (c, p) in zip(coordinates, points[3...]) {
            XCTAssertEqual(layout.x.invert(c[0]), p.x, accuracy: 0.01)
            XCTAssertEqual(layout.y.invert(c[1]), p.y, accuracy: 0.001)
        }
        // The band: upper edge forward, lower edge back.
        let polygon = try XCTUnwrap(elements("polygon", in: svg).first)
        XCTAssertEqual(attribute("data-band", in: polygon), "b")
        XCTAssertEqual(
            attribute("points", in: polygon), SVG.pointList([ChartPoint(1, 0.3), ChartPoint(2, 0.4), ChartPoint(2, 0.2), ChartPoint(1, 0.1)], layout))
        // Text is escaped; the data lies inside the plot area.
        XCTAssertTrue(svg.contains("T &lt;&amp;&gt;"))
        XCTAssertTrue(svg.contains("model &quot;a&quot;"))
        XCTAssertFalse(svg.contains("http"))
        for p in points where p.y.isFinite {
            let (x, y) = layout.pixel(p)
            XCTAssertTrue(x >= layout.plotLeft && x <= layout.plotRight && y >= layout.plotTop && y <= layout.plotBottom)
        }
    }

    func testLegendWrapsInsteadOfOverflowing() {
        let series = (0..<6).map { ChartSeries(id: "s\($0)", label: "variant-name-\($0) (mean of 3)", points: [ChartPoint(0, 0), ChartPoint(1, 1)], color: $0) }
        let chart = LineChart(id: "l", title: "t", xLabel: "x", yLabel: "y", series: series, width: 600, height: 300)
        let layout = chart.layout()
        XCTAssertGreaterThan(layout.legendRows.count, 1)
        XCTAssertEqual(layout.legendRows.flatMap { $0 }.count, 6)
        for row in layout.legendRows {
            let width = row.reduce(0.0) { $0 + 26 + textWidth($1.label) + 14 }
            XCTAssertLessThanOrEqual(width, layout.plotRight - layout.plotLeft + 14)
        }
        XCTAssertGreaterThan(layout.plotBottom - layout.plotTop, 140, "the plot keeps most of the height")
    }

    func testScatterDrawsOneCirclePerPoint() {
        let chart = ScatterChart(
            id: "p", title: "p", xLabel: "PC1", yLabel: "PC2",
            groups: [
                ScatterGroup(id: "g/a", label: "a", points: [ChartPoint(0, 0), ChartPoint(1, 2)], notes: ["step 2", "step 4"], color: 0, annotate: [0]),
                ScatterGroup(id: "g/b", label: "b", points: [ChartPoint(-1, 1)], notes: ["step 2"], color: 1),
            ])
        let svg = SVG.render(chart)
        let circles = elements("circle", in: svg).filter { attribute("data-series", in: $0) != nil }
        XCTAssertEqual(circles.count, 3)
        let layout = chart.layout()
        XCTAssertEqual(attribute("cx", in: circles[1]), svgNumber(layout.x.map(1)))
        XCTAssertEqual(attribute("cy", in: circles[1]), svgNumber(layout.y.map(2)))
        XCTAssertEqual(elements("polyline", in: svg).count, 1, "a group of one point has no trajectory")
    }

    func testTrailingMean() {
        let v = [1.0, 2, 3, .nan, 5, 6]
        let m = trailingMean(v, window: 3)
        XCTAssertEqual(m[0], 1)
        XCTAssertEqual(m[1], 1.5)
        XCTAssertEqual(m[2], 2)
        XCTAssertEqual(m[3], 2.5)  // (2 + 3) / 2, the NaN left out
        XCTAssertEqual(m[4], 4)
        XCTAssertEqual(m[5], 5.5)
        XCTAssertEqual(trailingMean(v, window: 1)[5], 6)
        XCTAssertEqual(smoothingWindow(steps: 12), 1)
        XCTAssertEqual(smoothingWindow(steps: 400), 20)
        XCTAssertEqual(smoothingWindow(steps: 100_000), 50)
    }

    func testJacobiEigenDecomposition() {
        let a: [[Double]] = [[4, 1, 2], [1, 3, 0], [2, 0, 5]]
        let (values, vectors) = SymmetricEigen.decompose(a)
        XCTAssertEqual(values.reduce(0, +), 12, accuracy: 1e-10)  // the trace
        XCTAssertTrue(values[0] >= values[1] && values[1] >= values[2])
        for (lambda, v) in zip(values, vectors) {
            let av = (0..<3).map { i in (0..<3).reduce(0.0) { $0 + a[i][$1] * v[$1] } }
            for i in 0..<3 { XCTAssertEqual(av[i], lambda * v[i], accuracy: 1e-9) }
            XCTAssertEqual(v.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-12)
        }
    }

    func testPCARecoversALineAndAPlane() {
        // Points on a line in 4-D: all the variance on PC1, scores = signed distances along it.
        let direction = [1.0, 2, 0, -2].map { $0 / 3 }
        let ts = [-2.0, -1, 0.5, 3]
        let rows = ts.map { t in direction.map { 10 + t * $0 } }
        let pca = PrincipalComponents(rows: rows)
        XCTAssertEqual(pca.explained[0], 1, accuracy: 1e-12)
        XCTAssertEqual(pca.explained[1], 0, accuracy: 1e-12)
        let mean = ts.reduce(0, +) / 4
        let sign = pca.scores[3].x > 0 ? 1.0 : -1.0
        for (s, t) in zip(pca.scores, ts) {
            XCTAssertEqual(s.x, sign * (t - mean), accuracy: 1e-9)
            XCTAssertEqual(s.y, 0, accuracy: 1e-6)  // √(an eigenvalue of rounding noise)
        }
        // A rectangle in a plane: distances between points are kept exactly.
        let plane = [[0.0, 0, 5], [4, 0, 5], [0, 1, 5], [4, 1, 5]]
        let p = PrincipalComponents(rows: plane)
        XCTAssertEqual(p.explained[0] + p.explained[1], 1, accuracy: 1e-12)
        XCTAssertEqual(p.explained[0], 16.0 / 17, accuracy: 1e-12)  // variance 4 along x, 0.25 along y
        func d(_ a: ChartPoint, _ b: ChartPoint) -> Double { ((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y)).squareRoot() }
        XCTAssertEqual(d(p.scores[0], p.scores[3]), 17.0.squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(d(p.scores[0], p.scores[2]), 1, accuracy: 1e-9)
    }

    func testRunNamesGroupBeforeTheLastSeed() {
        XCTAssertEqual(ReportBuilder.group(of: "full-mmo-seed42").group, "full-mmo")
        XCTAssertEqual(ReportBuilder.group(of: "full-mmo-seed42").seed, 42)
        XCTAssertEqual(ReportBuilder.group(of: "a-seed1-seed2").group, "a-seed1")
        XCTAssertEqual(ReportBuilder.group(of: "baseline").group, "baseline")
        XCTAssertNil(ReportBuilder.group(of: "baseline").seed)
        XCTAssertEqual(ReportBuilder.group(of: "seed3x").group, "seed3x")
    }
}

final class DecimationTests: XCTestCase {
    func testKeepsLoggedPointsExtremesAndEnds() {
        var points: [ChartPoint] = (0..<10_000).map { (i: Int) -> ChartPoint in
            let t = Double(i)
            let wiggle: Double = Double(i % 7) * 0.01
            return ChartPoint(t + 1, sin(t / 300) + wiggle)
        }
        points[4321].y = 50  // a spike
        points[7000].y = .nan  // a gap
        let drawn = decimate(points, bins: 500)
        XCTAssertLessThanOrEqual(drawn.count, 2 * 500 + 3)
        XCTAssertEqual(drawn.first, points.first)
        XCTAssertEqual(drawn.last, points.last)
        XCTAssertTrue(drawn.contains(points[4321]), "the spike is drawn")
        XCTAssertTrue(drawn.contains { $0.x == 7001 && $0.y.isNaN }, "the gap still breaks the line")
        XCTAssertEqual(drawn.map(\.x), drawn.map(\.x).sorted(), "in x order")
        let logged = Dictionary(uniqueKeysWithValues: points.map { ($0.x, $0.y) })
        for p in drawn where p.y.isFinite { XCTAssertEqual(logged[p.x], p.y, "every drawn point is a logged one") }
        // Each bin's extremes are kept: the drawn range equals the data's per bin.
        let finite = points.filter { $0.y.isFinite }
        let drawnValues: [Double] = drawn.map { $0.y }.filter { $0.isFinite }
        let values: [Double] = finite.map { $0.y }
        XCTAssertEqual(drawnValues.max(), values.max())
        XCTAssertEqual(drawnValues.min(), values.min())
        let short = Array(points.prefix(900))
        XCTAssertEqual(decimate(short, bins: 500).count, 900, "short series are drawn whole")
    }
}
