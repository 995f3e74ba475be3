// Convergence-rate estimation (paper Alg. 3): each model's recent losses are kept in a fixed ring
// of `window` values (all Alg. 3 reads); `r ← 0.9 r + 0.1 / (1 + |s|)` with `s` the least-squares
// slope over the last `window` losses. Recording and updating allocate nothing.

/// Per-model loss rings and convergence rates `r` (start at 1).
public struct ConvergenceEstimator: Sendable {
    /// Losses kept per model (Alg. 3's window size `w`).
    public let window: Int
    /// Current rate `r_i` of each model.
    public internal(set) var rates: [Double]
    /// Number of losses recorded per model since the start (the ring keeps the last `window`).
    public internal(set) var counts: [Int]
    /// Ring storage, model-major: loss number `k` of model `i` sits at `i·window + k % window`.
    private var ring: [Float]

    /// An estimator for `models` models with all rates at 1 and no losses.
    public init(models: Int, window: Int) {
        precondition(window >= 2 && models >= 0, "ConvergenceEstimator: window \(window) < 2")
        self.window = window
        rates = Array(repeating: 1, count: models)
        counts = Array(repeating: 0, count: models)
        ring = Array(repeating: 0, count: models * window)
    }

    /// Appends a loss to model `i`'s history.
    public mutating func record(_ loss: Float, model i: Int) {
        ring[i * window + counts[i] % window] = loss
        counts[i] += 1
    }

    /// Alg. 3 for model `i`: if at least `window` losses are recorded, fits the slope over the
    /// last `window` and moves `r` towards `1 / (1 + |s|)`. Returns whether `r` changed.
    @discardableResult
    public mutating func update(model i: Int) -> Bool {
        guard counts[i] >= window else { return false }
        let s = slope(model: i)
        rates[i] = 0.9 * rates[i] + 0.1 / (1 + abs(s))
        return true
    }

    /// Least-squares slope of model `i`'s last `min(count, window)` losses against 0, 1, 2, ….
    public func slope(model i: Int) -> Double {
        let n = min(counts[i], window)
        let first = counts[i] - n
        return ring.withUnsafeBufferPointer { r in
            Self.leastSquaresSlope(count: n) { x in Double(r[i * window + (first + x) % window]) }
        }
    }

    /// The last `min(count, window)` losses of model `i`, oldest first (allocates; for state export).
    public func history(model i: Int) -> [Float] {
        let n = min(counts[i], window)
        return (0..<n).map { ring[i * window + (counts[i] - n + $0) % window] }
    }

    /// Replaces model `i`'s state: `history` are its last losses (oldest first; only the last
    /// `window` are kept), `count` how many were recorded in total, `rate` its `r`.
    public mutating func restore(model i: Int, history: [Float], count: Int, rate: Double) {
        precondition(count >= history.count, "loss count \(count) < history length \(history.count)")
        let kept = history.suffix(window)
        for (j, loss) in kept.enumerated() {
            ring[i * window + (count - kept.count + j) % window] = loss
        }
        counts[i] = count
        rates[i] = rate
    }

    /// Slope of the ordinary least-squares line through `(x, y(x))`, `x = 0 ..< count`:
    /// `Σ (x − x̄)(y − ȳ) / Σ (x − x̄)²`; 0 for fewer than two points.
    public static func leastSquaresSlope(count n: Int, _ y: (Int) -> Double) -> Double {
        guard n >= 2 else { return 0 }
        let meanX = Double(n - 1) / 2
        var meanY = 0.0
        for x in 0..<n { meanY += y(x) }
        meanY /= Double(n)
        var sxy = 0.0
        var sxx = 0.0
        for x in 0..<n {
            let dx = Double(x) - meanX
            sxy += dx * (y(x) - meanY)
            sxx += dx * dx
        }
        return sxy / sxx
    }

    /// Least-squares slope of `losses` against their indices.
    public static func leastSquaresSlope(_ losses: [Float]) -> Double {
        leastSquaresSlope(count: losses.count) { Double(losses[$0]) }
    }
}
