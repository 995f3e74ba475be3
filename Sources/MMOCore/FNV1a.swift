// FNV-1a, 64-bit (Fowler–Noll–Vo): a small, stable, non-cryptographic hash for names and data
// fingerprints. Its values are saved in checkpoints, so the algorithm never changes.

/// An incremental FNV-1a 64 hash.
public struct FNV1a64: Sendable {
    /// The current hash value.
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    /// Mixes in `bytes`.
    @inline(__always)
    public mutating func combine(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01B3
        }
    }
}
