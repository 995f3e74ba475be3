// Finite-difference checks of every kernel's backward (tolerances: see GradientCheck.swift),
// plus the forward facts a gradient check cannot see (masks, padding rows, accumulation).
import XCTest
@testable import MMOCore

final class KernelGradientTests: XCTestCase {
    override func setUp() { BLAS.setThreads(1) }

    func testLinear() {
        let (N, IC, OC) = (5, 4, 3)
        for hasBias in [true, false] {
            let x = randomBuffer(N * IC, stream: "x"), w = randomBuffer(OC * IC, stream: "w")
            let bias = randomBuffer(OC, stream: "b")
            let out = FloatBuffer(count: N * OC), probeW = randomBuffer(N * OC, stream: "probe")
            func loss() -> Double {
                linearForward(out: out.pointer, input: x.pointer, weight: w.pointer, bias: hasBias ? bias.pointer : nil, N: N, IC: IC, OC: OC)
                return probe(out, probeW)
            }
            let dx = filledBuffer(N * IC, 0.5), dw = filledBuffer(OC * IC, 0.5), db = filledBuffer(OC, 0.5)
            _ = loss()
            linearBackward(
                dInput: dx.pointer, dWeight: dw.pointer, dBias: hasBias ? db.pointer : nil, dOut: probeW.pointer,
                input: x.pointer, weight: w.pointer, N: N, IC: IC, OC: OC)
            assertGradient("linear dInput", x: x, analytic: dx, prefill: 0.5, loss: loss)
            assertGradient("linear dWeight", x: w, analytic: dw, prefill: 0.5, loss: loss)
            if hasBias {
                assertGradient("linear dBias", x: bias, analytic: db, prefill: 0.5, loss: loss)
            } else {
                XCTAssertEqual(db.array, [Float](repeating: 0.5, count: OC), "no bias: dBias untouched")
            }
        }
    }

    func testLayerNorm() {
        let (N, C) = (4, 8)
        let x = randomBuffer(N * C, stream: "x", std: 2), w = randomBuffer(C, stream: "w")
        let bias = randomBuffer(C, stream: "b")
        for i in 0..<C { x[i] += 3 }  // a row far from zero mean
        let out = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
        let probeW = randomBuffer(N * C, stream: "probe")
        func loss() -> Double {
            layerNormForward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, input: x.pointer, weight: w.pointer, bias: bias.pointer, N: N, C: C, eps: 1e-5)
            return probe(out, probeW)
        }
        _ = loss()
        // Forward facts: each row of (out − bias)/weight has mean 0 and variance ≈ 1.
        for n in 0..<N {
            var m = 0.0, v = 0.0
            for c in 0..<C { m += Double((out[n * C + c] - bias[c]) / w[c]) }
            m /= Double(C)
            for c in 0..<C { v += pow(Double((out[n * C + c] - bias[c]) / w[c]) - m, 2) }
            XCTAssertEqual(m, 0, accuracy: 1e-5)
            XCTAssertEqual(v / Double(C), 1, accuracy: 1e-3)
        }
        let dx = filledBuffer(N * C, 0.25), dw = filledBuffer(C, 0.25), db = filledBuffer(C, 0.25)
        layerNormBackward(
            dInput: dx.pointer, dWeight: dw.pointer, dBias: db.pointer, dOut: probeW.pointer, input: x.pointer,
            weight: w.pointer, mean: mean.pointer, rstd: rstd.pointer, N: N, C: C)
        assertGradient("layernorm dInput", x: x, analytic: dx, prefill: 0.25, loss: loss)
        assertGradient("layernorm dWeight", x: w, analytic: dw, prefill: 0.25, loss: loss)
        assertGradient("layernorm dBias", x: bias, analytic: db, prefill: 0.25, loss: loss)
    }

    func testGELUBothFormsAndTanh() {
        let N = 24
        let x = randomBuffer(N, stream: "x", std: 2)
        let out = FloatBuffer(count: N), probeW = randomBuffer(N, stream: "probe")
        for approximation in [GELUApproximation.none, .tanh] {
            func loss() -> Double {
                geluForward(out: out.pointer, input: x.pointer, N: N, approximation: approximation)
                return probe(out, probeW)
            }
            _ = loss()
            for i in 0..<N {  // Reference values in Double.
                let v = Double(x[i])
                let ref = approximation == .none
                    ? 0.5 * v * (1 + erf(v / 2.0.squareRoot()))
                    : 0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
                XCTAssertEqual(Double(out[i]), ref, accuracy: 1e-6 * max(1, abs(ref)))
            }
            let dx = filledBuffer(N, 1)
            geluBackward(dInput: dx.pointer, dOut: probeW.pointer, input: x.pointer, N: N, approximation: approximation)
            assertGradient("gelu \(approximation) dInput", x: x, analytic: dx, prefill: 1, loss: loss)
        }
        func tanhLoss() -> Double {
            tanhForward(out: out.pointer, input: x.pointer, N: N)
            return probe(out, probeW)
        }
        _ = tanhLoss()
        let dx = filledBuffer(N, 1)
        tanhBackward(dInput: dx.pointer, dOut: probeW.pointer, out: out.pointer, N: N)
        assertGradient("tanh dInput", x: x, analytic: dx, prefill: 1, loss: tanhLoss)
    }

    func testSoftmaxWithPaddingAndCausalMasks() {
        let (R, N) = (4, 5)
        let x = randomBuffer(R * N, stream: "x", std: 2)
        let mask = FloatBuffer(count: N)
        let lengths = [Int32(3)]
        paddingMaskForward(mask: mask.pointer, lengths: lengths, B: 1, T: N)
        XCTAssertEqual(mask.array, [0, 0, 0, maskedScore, maskedScore])
        let out = FloatBuffer(count: R * N), probeW = randomBuffer(R * N, stream: "probe")
        for causal in [false, true] {
            func loss() -> Double {
                softmaxForward(out: out.pointer, input: x.pointer, additiveMask: mask.pointer, R: R, N: N, causal: causal)
                return probe(out, probeW)
            }
            _ = loss()
            for r in 0..<R {
                var sum: Float = 0
                for c in 0..<N {
                    let hidden = c >= 3 || (causal && c > r + N - R)
                    if hidden { XCTAssertEqual(out[r * N + c], 0, "row \(r) col \(c) must be masked") }
                    sum += out[r * N + c]
                }
                XCTAssertEqual(sum, 1, accuracy: 1e-6)
            }
            let dx = filledBuffer(R * N, 0.5)
            softmaxBackward(dInput: dx.pointer, dOut: probeW.pointer, probs: out.pointer, R: R, N: N)
            assertGradient("softmax causal=\(causal) dInput", x: x, analytic: dx, prefill: 0.5, loss: loss)
        }
    }

    func testAttention() {
        let (B, T, C, NH) = (2, 4, 8, 2)
        let q = randomBuffer(B * T * C, stream: "q"), k = randomBuffer(B * T * C, stream: "k")
        let v = randomBuffer(B * T * C, stream: "v")
        let mask = FloatBuffer(count: B * T)
        paddingMaskForward(mask: mask.pointer, lengths: [4, 2], B: B, T: T)
        let out = FloatBuffer(count: B * T * C), probs = FloatBuffer(count: B * NH * T * T)
        let dropped = FloatBuffer(count: B * NH * T * T), dropMask = FloatBuffer(count: B * NH * T * T)
        let scratch = FloatBuffer(count: B * NH * T * T)
        let probeW = randomBuffer(B * T * C, stream: "probe")
        for (causal, dropout) in [(false, Float(0)), (true, 0), (false, 0.3), (true, 0.3)] {
            let start = PhiloxRNG(seed: 3, stream: "attention-dropout")
            var rng = start
            func loss() -> Double {
                rng = start  // The same dropout mask at every probe.
                attentionForward(
                    out: out.pointer, probs: probs.pointer, droppedProbs: dropout > 0 ? dropped.pointer : nil,
                    dropoutMask: dropout > 0 ? dropMask.pointer : nil, query: q.pointer, key: k.pointer, value: v.pointer,
                    additiveMask: mask.pointer, B: B, T: T, C: C, NH: NH, causal: causal, dropout: dropout, rng: &rng)
                return probe(out, probeW)
            }
            _ = loss()
            // Padded keys (batch 1, keys 2 and 3) get probability exactly 0.
            for h in 0..<NH { for t in 0..<T { for key in 2..<T {
                XCTAssertEqual(probs[((1 * NH + h) * T + t) * T + key], 0)
            } } }
            if dropout > 0 {
                let zeros = (0..<dropMask.count).filter { dropMask[$0] == 0 }.count
                XCTAssertGreaterThan(zeros, 0, "dropout 0.3 over \(dropMask.count) entries drops some")
            }
            let dq = filledBuffer(q.count, 0.5), dk = filledBuffer(k.count, 0.5), dv = filledBuffer(v.count, 0.5)
            attentionBackward(
                dQuery: dq.pointer, dKey: dk.pointer, dValue: dv.pointer, scratch: scratch.pointer, dOut: probeW.pointer,
                probs: probs.pointer, droppedProbs: dropout > 0 ? dropped.pointer : nil,
                dropoutMask: dropout > 0 ? dropMask.pointer : nil, query: q.pointer, key: k.pointer, value: v.pointer,
                B: B, T: T, C: C, NH: NH)
            let label = "attention causal=\(causal) dropout=\(dropout)"
            assertGradient("\(label) dQuery", x: q, analytic: dq, prefill: 0.5, loss: loss)
            assertGradient("\(label) dKey", x: k, analytic: dk, prefill: 0.5, loss: loss)
            assertGradient("\(label) dValue", x: v, analytic: dv, prefill: 0.5, loss: loss)
        }
    }

    func testAttentionMatchesNaiveReference() {
        // Heads interleaved as in Hugging Face: head h = channels h·HS..<(h+1)·HS.
        let (B, T, C, NH) = (2, 3, 6, 3)
        let HS = C / NH
        let q = randomBuffer(B * T * C, stream: "q"), k = randomBuffer(B * T * C, stream: "k")
        let v = randomBuffer(B * T * C, stream: "v")
        let mask = FloatBuffer(count: B * T)
        paddingMaskForward(mask: mask.pointer, lengths: [3, 2], B: B, T: T)
        let out = FloatBuffer(count: B * T * C), probs = FloatBuffer(count: B * NH * T * T)
        var rng = PhiloxRNG(key: 1)
        attentionForward(
            out: out.pointer, probs: probs.pointer, droppedProbs: nil, dropoutMask: nil, query: q.pointer, key: k.pointer,
            value: v.pointer, additiveMask: mask.pointer, B: B, T: T, C: C, NH: NH, causal: true, dropout: 0, rng: &rng)
        for b in 0..<B { for h in 0..<NH { for t in 0..<T {
            let keys = (0..<T).filter { $0 <= t && $0 < (b == 0 ? 3 : 2) }
            var scores = keys.map { j in
                (0..<HS).reduce(0.0) { $0 + Double(q[(b * T + t) * C + h * HS + $1]) * Double(k[(b * T + j) * C + h * HS + $1]) }
                    / Double(HS).squareRoot()
            }
            let m = scores.max()!
            scores = scores.map { exp($0 - m) }
            let s = scores.reduce(0, +)
            for d in 0..<HS {
                let ref = zip(keys, scores).reduce(0.0) { $0 + $1.1 / s * Double(v[(b * T + $1.0) * C + h * HS + d]) }
                XCTAssertEqual(Double(out[(b * T + t) * C + h * HS + d]), ref, accuracy: 1e-5)
            }
        } } }
    }

    func testEmbeddingLookupAndScatterAdd() {
        let (N, V, C) = (6, 4, 3)
        let table = randomBuffer(V * C, stream: "table")
        let ids: [Int32] = [2, 0, 2, 3, 1, 2]
        let out = FloatBuffer(count: N * C), probeW = randomBuffer(N * C, stream: "probe")
        func loss() -> Double {
            embeddingForward(out: out.pointer, ids: ids, table: table.pointer, N: N, V: V, C: C)
            return probe(out, probeW)
        }
        _ = loss()
        for n in 0..<N { for c in 0..<C { XCTAssertEqual(out[n * C + c], table[Int(ids[n]) * C + c]) } }
        let dTable = filledBuffer(V * C, 0.5)
        embeddingBackward(dTable: dTable.pointer, dOut: probeW.pointer, ids: ids, N: N, V: V, C: C)
        assertGradient("embedding dTable", x: table, analytic: dTable, prefill: 0.5, loss: loss)
        // accumulate adds onto what is there (re-run: the check left a perturbed forward in `out`).
        _ = loss()
        let before = out.array
        embeddingForward(out: out.pointer, ids: ids, table: table.pointer, N: N, V: V, C: C, accumulate: true)
        for i in 0..<out.count { XCTAssertEqual(out[i], 2 * before[i]) }
        // A padding index receives nothing; every other row gets the same gradient as before.
        let dPadded = filledBuffer(V * C, 0.5)
        embeddingBackward(dTable: dPadded.pointer, dOut: probeW.pointer, ids: ids, N: N, V: V, C: C, paddingIndex: 2)
        for i in 0..<(V * C) { XCTAssertEqual(dPadded[i], i / C == 2 ? 0.5 : dTable[i]) }
    }

    func testDropoutAndResidual() {
        let N = 4000
        let x = randomBuffer(N, stream: "x"), out = FloatBuffer(count: N), mask = FloatBuffer(count: N)
        let start = PhiloxRNG(seed: 11, stream: "dropout")
        var rng = start
        dropoutForward(out: out.pointer, mask: mask.pointer, input: x.pointer, N: N, probability: 0.25, rng: &rng)
        let dropped = (0..<N).filter { mask[$0] == 0 }.count
        // Binomial(4000, 0.25): mean 1000, sd ≈ 27; 5 sd either side.
        XCTAssertEqual(Double(dropped), 1000, accuracy: 137)
        for i in 0..<N {
            XCTAssertTrue(mask[i] == 0 || mask[i] == Float(1) / 0.75)
            XCTAssertEqual(out[i], x[i] * mask[i])
        }
        XCTAssertEqual(rng.state.counter, UInt64(N / 4), "one uniform per element")
        var again = start
        let mask2 = FloatBuffer(count: N)
        dropoutForward(out: out.pointer, mask: mask2.pointer, input: x.pointer, N: N, probability: 0.25, rng: &again)
        XCTAssertEqual(mask.array, mask2.array, "same stream state, same mask")
        var other = PhiloxRNG(seed: 12, stream: "dropout")
        dropoutForward(out: out.pointer, mask: mask2.pointer, input: x.pointer, N: N, probability: 0.25, rng: &other)
        XCTAssertNotEqual(mask.array, mask2.array)

        let small = 10
        let xs = randomBuffer(small, stream: "xs"), probeW = randomBuffer(small, stream: "probe")
        let outSmall = FloatBuffer(count: small), maskSmall = FloatBuffer(count: small)
        func loss() -> Double {
            var r = start
            dropoutForward(out: outSmall.pointer, mask: maskSmall.pointer, input: xs.pointer, N: small, probability: 0.5, rng: &r)
            return probe(outSmall, probeW)
        }
        _ = loss()
        let dx = filledBuffer(small, 0.5)
        dropoutBackward(dInput: dx.pointer, dOut: probeW.pointer, mask: maskSmall.pointer, N: small, probability: 0.5)
        assertGradient("dropout dInput", x: xs, analytic: dx, prefill: 0.5, loss: loss)

        let a = randomBuffer(small, stream: "a"), b = randomBuffer(small, stream: "b")
        func residualLoss() -> Double {
            residualForward(out: outSmall.pointer, a: a.pointer, b: b.pointer, N: small)
            return probe(outSmall, probeW)
        }
        let da = filledBuffer(small, 0.5), db = filledBuffer(small, 0.5)
        residualBackward(dA: da.pointer, dB: db.pointer, dOut: probeW.pointer, N: small)
        assertGradient("residual dA", x: a, analytic: da, prefill: 0.5, loss: residualLoss)
        assertGradient("residual dB", x: b, analytic: db, prefill: 0.5, loss: residualLoss)
    }

    func testCrossEntropy() {
        let (B, K) = (4, 5)
        let logits = randomBuffer(B * K, stream: "logits", std: 3)
        let labels: [Int32] = [0, 4, 2, 2]
        let losses = FloatBuffer(count: B)
        let loss = crossEntropyForward(losses: losses.pointer, logits: logits.pointer, labels: labels, B: B, K: K)
        var ref = 0.0
        for b in 0..<B {
            let row = (0..<K).map { Double(logits[b * K + $0]) }
            let lse = log(row.map { exp($0) }.reduce(0, +))
            XCTAssertEqual(Double(losses[b]), lse - row[Int(labels[b])], accuracy: 1e-5)
            ref += (lse - row[Int(labels[b])]) / Double(B)
        }
        XCTAssertEqual(Double(loss), ref, accuracy: 1e-5)
        let dLogits = filledBuffer(B * K, 0.5)
        crossEntropyBackward(dLogits: dLogits.pointer, logits: logits.pointer, labels: labels, B: B, K: K)
        assertGradient("cross-entropy dLogits", x: logits, analytic: dLogits, prefill: 0.5) {
            Double(crossEntropyForward(losses: nil, logits: logits.pointer, labels: labels, B: B, K: K))
        }
    }

    func testKLDivergence() {
        let (B, K) = (3, 4)
        let student = randomBuffer(B * K, stream: "student", std: 2), teacher = randomBuffer(B * K, stream: "teacher", std: 2)
        let tau: Float = 2
        let kl = klDivergenceForward(input: student.pointer, target: teacher.pointer, temperature: tau, B: B, K: K)
        var ref = 0.0
        for b in 0..<B {
            func logSoftmax(_ x: FloatBuffer) -> [Double] {
                let row = (0..<K).map { Double(x[b * K + $0]) / Double(tau) }
                let lse = log(row.map { exp($0) }.reduce(0, +))
                return row.map { $0 - lse }
            }
            let lq = logSoftmax(teacher), lp = logSoftmax(student)
            ref += (0..<K).reduce(0.0) { $0 + exp(lq[$1]) * (lq[$1] - lp[$1]) }
        }
        ref *= Double(tau * tau) / Double(B)
        XCTAssertEqual(Double(kl), ref, accuracy: 1e-5)
        XCTAssertEqual(klDivergenceForward(input: teacher.pointer, target: teacher.pointer, temperature: tau, B: B, K: K), 0, accuracy: 1e-6)
        let dS = filledBuffer(B * K, 0.5), dT = filledBuffer(B * K, 0.5)
        klDivergenceBackward(dInput: dS.pointer, dTarget: dT.pointer, input: student.pointer, target: teacher.pointer, temperature: tau, B: B, K: K)
        func loss() -> Double { Double(klDivergenceForward(input: student.pointer, target: teacher.pointer, temperature: tau, B: B, K: K)) }
        assertGradient("kl dInput", x: student, analytic: dS, prefill: 0.5, loss: loss)
        assertGradient("kl dTarget", x: teacher, analytic: dT, prefill: 0.5, loss: loss)
    }
}
