// Test helper for MMOFormat (not a product): writes checkpoints in a child process so that tests
// can kill it mid-write, and writes the golden files of fixtures/golden/.
//
//   mmo-format-testwriter crash-loop TARGET     rewrite TARGET with generations 1, 2, … forever,
//                                               printing each generation once it is committed
//   mmo-format-testwriter golden PATH           write the golden sample (fixtures/golden/README.md)

import Foundation
import MMOFormat

/// SplitMix64, the deterministic source of every value written here.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A float in [-0.5, 0.5) with 24 random bits, scaled: exactly reproducible.
    mutating func float(scale: Float) -> Float { (Float(next() >> 40) * 0x1p-24 - 0.5) * scale }
}

/// The checkpoint of generation `g` of the crash loop: ~4 MB, so a write takes a while.
func writeGeneration(_ g: Int, to url: URL) throws {
    var rng = SplitMix64(state: UInt64(g))
    let values = (0..<(1 << 20)).map { _ in rng.float(scale: 0.04) }
    var writer = MMOWriter()
    try writer.setStateDocument(Data("{\"generation\":\(g)}".utf8))
    try writer.add("generation", dtype: .i64, shape: [1], bytes: withUnsafeBytes(of: Int64(g)) { Data($0) })
    try writer.add("values", shape: [1024, 1024], floats: values)
    try writer.add("zeros", shape: [4096], floats: [Float](repeating: 0, count: 4096))
    try writer.write(to: url)
}

/// The golden sample: every dtype, codec and filter, a scalar, an empty array, a state document
/// with non-ASCII text and an integer beyond 2^53.
func writeGolden(to url: URL) throws {
    var rng = SplitMix64(state: 2024)
    var writer = MMOWriter()
    let state = #"{"format":{"name":"mmo-state","version":1},"producer":{"name":"MultiModelOptimizer golden","version":"1.0"},"progress":{"step":12,"epoch":1,"microStep":0},"rng":{"dropout/bert":{"key":12345678901234567890,"counter":42,"used":3}},"text":"h\u00e9llo ✓"}"#
    try writer.setStateDocument(Data(state.utf8))
    func add<T>(_ name: String, _ dtype: MMODType, _ shape: [Int], _ values: [T], hint: MMOStorageHint = .automatic) throws {
        try writer.add(name, dtype: dtype, shape: shape, bytes: values.withUnsafeBytes { Data($0) }, hint: hint)
    }
    try add("model/bert/weight", .f32, [96, 64], (0..<6144).map { _ in rng.float(scale: 0.04) })
    try add("model/bert/bias", .f32, [64], [Float](repeating: 0, count: 64))
    try add("optim/bert/m/weight", .f32, [96, 64], (0..<6144).map { _ in rng.float(scale: 2e-4) })
    try add("optim/bert/v/weight", .f32, [96, 64], (0..<6144).map { _ in let x = rng.float(scale: 2e-3); return x * x })
    try add("f64", .f64, [3, 3], (0..<9).map { Double($0) / 9 - 0.5 })
    try add("f16", .f16, [40], (0..<40).map { UInt16(0x3000 + $0 * 11) })
    try add("bf16", .bf16, [40], (0..<40).map { UInt16(0x3C00 + $0 * 13) })
    try add("i64", .i64, [3], [Int64.min, 0, Int64.max])
    try add("u64", .u64, [2], [UInt64.max, 1 << 60])
    try add("i32", .i32, [300], (0..<300).map { Int32($0 * $0) - 40000 }, hint: .shuffle)
    try add("u32", .u32, [2], [UInt32.max, 7])
    try add("i16", .i16, [3], [Int16.min, -2, Int16.max])
    try add("u16", .u16, [2], [UInt16.max, 9])
    try add("i8", .i8, [3], [Int8.min, 0, Int8.max])
    try add("tokenizer/vocab.txt", .u8, [18], Array("[PAD]\n[UNK]\nhello\n".utf8))
    try add("scalar", .f32, [], [Float(0.125)])
    try add("empty", .f32, [0, 8], [Float]())
    try add("raw", .f32, [32], (0..<32).map { _ in rng.float(scale: 1) }, hint: .raw)
    try add("unshuffled", .f32, [1000], (0..<1000).map { Float($0 % 10) }, hint: .noShuffle)
    try writer.write(to: url)
}

let arguments = CommandLine.arguments
switch (arguments.count, arguments.count > 1 ? arguments[1] : "") {
case (3, "crash-loop"):
    let url = URL(fileURLWithPath: arguments[2])
    var g = 1
    while true {
        do { try writeGeneration(g, to: url) } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            exit(1)
        }
        FileHandle.standardOutput.write(Data("\(g)\n".utf8))
        g += 1
    }
case (3, "golden"):
    do { try writeGolden(to: URL(fileURLWithPath: arguments[2])) } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        exit(1)
    }
default:
    FileHandle.standardError.write(Data("usage: mmo-format-testwriter crash-loop TARGET | golden PATH\n".utf8))
    exit(2)
}
