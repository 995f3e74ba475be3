// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator. A stream is (key, counter); its whole state is three integers, so it
// saves and restores exactly, and named streams derived from one seed are independent.
import Foundation

/// The serialisable state of a `PhiloxRNG` stream.
public struct RNGState: Codable, Hashable, Sendable {
    /// 64-bit key (Philox's two 32-bit key words).
    public var key: UInt64
    /// 64-bit block counter (low half of Philox's 128-bit counter; the high half is 0).
    public var counter: UInt64
    /// How many of the current block's four outputs are already used (0...4).
    public var used: Int

    /// A state from its three fields.
    public init(key: UInt64, counter: UInt64, used: Int) {
        self.key = key
        self.counter = counter
        self.used = used
    }
}

/// A Philox4x32-10 stream.
///
/// Each block `(counter, key)` yields four 32-bit words. `uniform()` uses one word: the top 24
/// bits scaled by 2⁻²⁴, so values are exactly representable floats in [0, 1). `normal()` uses two
/// words (Box–Muller, cosine branch only), so the state never caches a spare value.
public struct PhiloxRNG: Sendable {
    private static let m0: UInt32 = 0xD251_1F53
    private static let m1: UInt32 = 0xCD9E_8D57
    private static let w0: UInt32 = 0x9E37_79B9
    private static let w1: UInt32 = 0xBB67_AE85

    /// The stream's exact position; `init(state:)` resumes from it.
    public private(set) var state: RNGState
    private var block: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)

    /// A stream with an explicit key, starting at counter 0.
    public init(key: UInt64) {
        self.init(state: RNGState(key: key, counter: 0, used: 4))
    }

    /// A stream called `name` derived from `seed`: key = SplitMix64(seed ⊕ FNV-1a-64(name)).
    /// Different names give unrelated keys; the same (seed, name) always gives the same stream.
    public init(seed: UInt64, stream name: String) {
        var h = FNV1a64()
        h.combine(name.utf8)
        self.init(key: PhiloxRNG.splitMix64(seed ^ h.value))
    }

    /// Restores a stream exactly where `state` left it.
    public init(state: RNGState) {
        precondition((0...4).contains(state.used), "RNGState.used must be in 0...4")
        self.state = state
        if state.used < 4 { block = PhiloxRNG.philox(counter: state.counter &- 1, key: state.key) }
    }

    /// SplitMix64 finaliser (Steele et al. 2014), used to spread seeds over the key space.
    public static func splitMix64(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    private static func mulhilo(_ a: UInt32, _ b: UInt32) -> (hi: UInt32, lo: UInt32) {
        let p = UInt64(a) &* UInt64(b)
        return (UInt32(truncatingIfNeeded: p >> 32), UInt32(truncatingIfNeeded: p))
    }

    /// The Philox4x32-10 block function for counter `(c, 0)` and key `k`.
    public static func philox(counter c: UInt64, key k: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var x0 = UInt32(truncatingIfNeeded: c)
        var x1 = UInt32(truncatingIfNeeded: c >> 32)
        var x2: UInt32 = 0
        var x3: UInt32 = 0
        var k0 = UInt32(truncatingIfNeeded: k)
        var k1 = UInt32(truncatingIfNeeded: k >> 32)
        for round in 0..<10 {
            if round > 0 {
                k0 = k0 &+ w0
                k1 = k1 &+ w1
            }
            let (hi0, lo0) = mulhilo(m0, x0)
            let (hi1, lo1) = mulhilo(m1, x2)
            (x0, x1, x2, x3) = (hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0)
        }
        return (x0, x1, x2, x3)
    }

    /// The next 32-bit word of the stream.
    @inline(__always)
    public mutating func nextUInt32() -> UInt32 {
        if state.used == 4 {
            block = PhiloxRNG.philox(counter: state.counter, key: state.key)
            state.counter &+= 1
            state.used = 0
        }
        let value: UInt32
        switch state.used {
        case 0: value = block.0
        case 1: value = block.1
        case 2: value = block.2
        default: value = block.3
        }
        state.used += 1
        return value
    }

    /// The blocks of counters `c ..< c + 8` as uniforms: `out[4j ..< 4j + 4]` gets block
    /// `c + j`'s four words as `uniform()` converts them. The same integer operations as
    /// `philox`, eight counters wide (the 32 × 32 → 64-bit products become packed unsigned
    /// multiplies), so the values are identical; `fillUniform` uses it for dropout masks.
    @inline(__always)
    static func philox8(counter c: UInt64, key k: UInt64, uniformsInto out: UnsafeMutablePointer<Float>) {
        let counters = SIMD8<UInt64>(repeating: c) &+ SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7)
        var x0 = SIMD8<UInt32>(truncatingIfNeeded: counters)
        var x1 = SIMD8<UInt32>(truncatingIfNeeded: counters &>> 32)
        var x2 = SIMD8<UInt32>(repeating: 0)
        var x3 = SIMD8<UInt32>(repeating: 0)
        var k0 = UInt32(truncatingIfNeeded: k)
        var k1 = UInt32(truncatingIfNeeded: k >> 32)
        let m0 = SIMD8<UInt64>(repeating: UInt64(PhiloxRNG.m0))
        let m1 = SIMD8<UInt64>(repeating: UInt64(PhiloxRNG.m1))
        for round in 0..<10 {
            if round > 0 {
                k0 = k0 &+ w0
                k1 = k1 &+ w1
            }
            let p0 = SIMD8<UInt64>(truncatingIfNeeded: x0) &* m0
            let p1 = SIMD8<UInt64>(truncatingIfNeeded: x2) &* m1
            let hi0 = SIMD8<UInt32>(truncatingIfNeeded: p0 &>> 32), lo0 = SIMD8<UInt32>(truncatingIfNeeded: p0)
            let hi1 = SIMD8<UInt32>(truncatingIfNeeded: p1 &>> 32), lo1 = SIMD8<UInt32>(truncatingIfNeeded: p1)
            (x0, x1, x2, x3) = (hi1 ^ x1 ^ SIMD8(repeating: k0), lo1, hi0 ^ x3 ^ SIMD8(repeating: k1), lo0)
        }
        let scale = SIMD8<Float>(repeating: 0x1p-24)
        let u0 = SIMD8<Float>(x0 &>> 8) * scale, u1 = SIMD8<Float>(x1 &>> 8) * scale
        let u2 = SIMD8<Float>(x2 &>> 8) * scale, u3 = SIMD8<Float>(x3 &>> 8) * scale
        for j in 0..<8 {
            out[4 * j] = u0[j]
            out[4 * j + 1] = u1[j]
            out[4 * j + 2] = u2[j]
            out[4 * j + 3] = u3[j]
        }
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func uniform() -> Float { Float(nextUInt32() >> 8) * 0x1p-24 }

    /// Fills `count` elements with exactly the values `count` calls of `uniform()` would return,
    /// four per Philox block without per-word bookkeeping (dropout masks are drawn this way).
    public mutating func fillUniform(_ out: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count && state.used != 4 {  // finish the current block
            out[i] = uniform()
            i += 1
        }
        while count - i >= 32 {  // eight blocks at once, one per SIMD lane
            PhiloxRNG.philox8(counter: state.counter, key: state.key, uniformsInto: out + i)
            state.counter &+= 8
            i += 32
        }
        while count - i >= 4 {
            let b = PhiloxRNG.philox(counter: state.counter, key: state.key)
            state.counter &+= 1
            out[i] = Float(b.0 >> 8) * 0x1p-24
            out[i + 1] = Float(b.1 >> 8) * 0x1p-24
            out[i + 2] = Float(b.2 >> 8) * 0x1p-24
            out[i + 3] = Float(b.3 >> 8) * 0x1p-24
            i += 4
        }
        while i < count {  // starts a new block, leaves it partly used
            out[i] = uniform()
            i += 1
        }
    }

    /// Standard normal N(0, 1) by Box–Muller from two uniform words.
    @inline(__always)
    public mutating func normal() -> Float {
        // u1 in (0, 1] so log is finite; computed in Double for accuracy, rounded once.
        let u1 = (Double(nextUInt32() >> 8) + 1) * 0x1p-24
        let u2 = Double(nextUInt32() >> 8) * 0x1p-24
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Uniform integer in `0..<bound` (Lemire's multiply-shift with rejection: unbiased).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0 && bound <= Int(UInt32.max), "nextInt bound out of range")
        let b = UInt32(bound)
        var m = UInt64(nextUInt32()) &* UInt64(b)
        var low = UInt32(truncatingIfNeeded: m)
        if low < b {
            let threshold = (0 &- b) % b
            while low < threshold {
                m = UInt64(nextUInt32()) &* UInt64(b)
                low = UInt32(truncatingIfNeeded: m)
            }
        }
        return Int(m >> 32)
    }

    /// Fisher–Yates shuffle of `array` in place.
    public mutating func shuffle<T>(_ array: inout [T]) {
        if array.count < 2 { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            if i != j { array.swapAt(i, j) }
        }
    }

    /// Fills `count` elements at `out` with N(mean, std²).
    public mutating func fillNormal(_ out: UnsafeMutablePointer<Float>, count: Int, mean: Float = 0, std: Float) {
        for i in 0..<count { out[i] = mean + std * normal() }
    }
}
