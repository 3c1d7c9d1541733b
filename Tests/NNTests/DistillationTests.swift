import Foundation
import Testing
import Tensor
@testable import NN

/// ConDistFL's conditional distillation, the exclusion loss, the site objective, the learning-rate schedule,
/// gradient-norm clipping and Adam's state: hand-computed values and finite-difference gradients.
@Suite struct DistillationTests {
    /// Logits `T log p` per voxel (so that `softmax(z / T) = p`), as an `1 x K x 1 x 1 x V` tensor.
    static func logits(_ probabilities: [[Double]], temperature: Double = 1) -> Tensor {
        let k = probabilities[0].count, v = probabilities.count
        var s = [Float](repeating: 0, count: k * v)
        for (i, p) in probabilities.enumerated() { for c in 0..<k { s[c * v + i] = Float(temperature * log(p[c])) } }
        return Tensor(shape: [1, k, 1, 1, v], scalars: s)
    }

    static func labels(_ l: [Float]) -> Tensor { Tensor(shape: [1, 1, 1, 1, l.count], scalars: l) }

    /// A liver-only site (annotates class 1 of 3), temperature 2; four voxels:
    /// v0 background, teacher says background (kept); v1 background, teacher says spleen (kept);
    /// v2 labelled liver (masked: the site's foreground); v3 background but the teacher says liver (masked).
    /// By hand (eps and smoothing ignored; they move the value by ~1e-5):
    /// v0: q = (0.5, 0.25)/0.75 = (2/3, 1/3), r = (0.5, 0.375)/0.875 = (4/7, 3/7);
    /// v1: q = (0.2, 0.2)/0.4 = (1/2, 1/2), r = (0.25, 0.5)/0.75 = (1/3, 2/3).
    /// Background: 2 (8/21 + 1/6) / (7/6 + 19/21) = 46/87; spleen: 2 (1/7 + 1/3) / (5/6 + 23/21) = 40/81.
    /// Loss = 1 - (46/87 + 40/81) / 2.
    @Test func conditionalDistillationByHand() {
        let t = 2.0
        let student = Self.logits([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], temperature: t)
        let teacher = Self.logits([[0.5, 0.125, 0.375], [0.25, 0.25, 0.5], [0.4, 0.3, 0.3], [0.2, 0.6, 0.2]], temperature: t)
        let loss = ConditionalDistillation(classes: 3, annotated: [1], temperature: t)
        #expect(loss.groups == [[0], [2]] && loss.foreground == [1])
        let (l, g) = loss(student: student, teacher: teacher, labels: Self.labels([0, 0, 1, 0]))
        let expected = 1 - (46.0 / 87 + 40.0 / 81) / 2
        #expect(abs(Double(l) - expected) <= 1e-4, "loss \(l), by hand \(expected)")
        // Masked voxels (v2, v3) get no gradient.
        for c in 0..<3 { #expect(g.scalars[c * 4 + 2] == 0 && g.scalars[c * 4 + 3] == 0) }
        // Whatever the student predicts on masked voxels leaves the loss unchanged.
        let other = Self.logits([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2], [0.7, 0.1, 0.2], [0.05, 0.9, 0.05]], temperature: t)
        #expect(loss(student: other, teacher: teacher, labels: Self.labels([0, 0, 1, 0])).loss == l)
    }

    /// A liver-only site; voxels v0 (liver, p = 0.1, 0.6, 0.3), v1 (background, 0.5, 0.25, 0.25), v2 (liver, 0.2, 0.7,
    /// 0.1). Exclusion of the spleen on the labelled liver: Dice 2 (0.3 + 0.1) / (2 + 0.65) = 0.8 / 2.65, cross
    /// entropy -(log 0.7 + log 0.9) / 3.
    @Test func exclusionByHand() {
        let z = Self.logits([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25], [0.2, 0.7, 0.1]])
        let loss = ExclusionLoss(classes: 3, annotated: [1])
        #expect(loss.excluded == [2])
        let (l, _) = loss(logits: z, labels: Self.labels([1, 0, 1]))
        let expected = 0.8 / 2.65 - (log(0.7) + log(0.9)) / 3
        #expect(abs(Double(l) - expected) <= 1e-5, "loss \(l), by hand \(expected)")
        // A site annotating every organ excludes nothing.
        #expect(ExclusionLoss(classes: 3, annotated: [1, 2])(logits: z, labels: Self.labels([1, 0, 2])).loss == 0)
    }

    /// The weighted sum of the parts, each part's value as computed on its own.
    @Test func objectiveIsTheWeightedSum() {
        var rng = SplitMix64(seed: 5)
        let shape = [2, 3, 2, 3, 2]
        let z = Tensor(shape: shape, scalars: (0..<72).map { _ in rng.nextUnit() * 4 - 2 })
        let t = Tensor(shape: shape, scalars: (0..<72).map { _ in rng.nextUnit() * 4 - 2 })
        let y = Tensor(shape: [2, 1, 2, 3, 2], scalars: (0..<24).map { _ in Float(rng.next() % 2) })
        let d = ConditionalDistillation(classes: 3, annotated: [1]), e = ExclusionLoss(classes: 3, annotated: [1])
        let o = SiteObjective(supervised: .marginal(classes: 3, annotated: [1]), distillation: d, distillationWeight: 0.3,
                              exclusion: e, exclusionWeight: 0.7)
        let parts = Double(DiceCELoss.marginal(classes: 3, annotated: [1])(logits: z, labels: y).loss)
            + 0.3 * Double(d(student: z, teacher: t, labels: y).loss) + 0.7 * Double(e(logits: z, labels: y).loss)
        #expect(abs(Double(o(logits: z, labels: y, teacher: t).loss) - parts) <= 1e-5)
    }

    /// Central differences (step `h`) of the Double loss, per logit, against the analytic gradient, for every
    /// element: |g - ref| <= atol + rtol |ref|.
    static func checkGradient(_ z: Tensor, h: Float = 1e-3, atol: Double = 1e-6, rtol: Double = 2e-3,
                              _ f: (Activation, Activation) -> Double) {
        let a = Activation(z)
        let grad = a.like(channels: a.c, zeroed: true)
        _ = f(a, grad)
        let analytic = grad.buffer.array
        let scratch = a.like(channels: a.c, zeroed: true)
        for i in 0..<a.count {
            let saved = a.pointer[i]
            a.pointer[i] = saved + h; let up = Double(a.pointer[i]); let lp = f(a, scratch)
            a.pointer[i] = saved - h; let down = Double(a.pointer[i]); let lm = f(a, scratch)
            a.pointer[i] = saved
            let reference = (lp - lm) / (up - down)
            let g = Double(analytic[i])
            #expect(abs(g - reference) <= atol + rtol * abs(reference), "element \(i): analytic \(g), central difference \(reference)")
        }
    }

    static func randomCase(seed: UInt64) -> (z: Tensor, t: Tensor, y: [Int32]) {
        var rng = SplitMix64(seed: seed)
        let shape = [2, 3, 2, 2, 3]
        let z = Tensor(shape: shape, scalars: (0..<72).map { _ in rng.nextUnit() * 4 - 2 })
        let t = Tensor(shape: shape, scalars: (0..<72).map { _ in rng.nextUnit() * 6 - 3 })
        return (z, t, (0..<24).map { _ in Int32(rng.next() % 2) })
    }

    @Test(arguments: [1.0, 2.0]) func conditionalDistillationGradient(temperature: Double) {
        let (z, t, y) = Self.randomCase(seed: 11)
        let d = ConditionalDistillation(classes: 3, annotated: [1], temperature: temperature)
        let teacher = Activation(t)
        #expect(y.contains(1) && y.contains(0))
        Self.checkGradient(z) { a, g in d.accumulate(student: a, teacher: teacher, labels: y, weight: 1, into: g) }
    }

    @Test func exclusionGradient() {
        let (z, _, y) = Self.randomCase(seed: 12)
        let e = ExclusionLoss(classes: 3, annotated: [1])
        Self.checkGradient(z) { a, g in e.accumulate(a, labels: y, weight: 1, into: g) }
    }

    @Test func objectiveGradient() {
        let (z, t, y) = Self.randomCase(seed: 13)
        let o = SiteObjective(supervised: .marginal(classes: 3, annotated: [1]),
                              distillation: ConditionalDistillation(classes: 3, annotated: [1]), distillationWeight: 0.5,
                              exclusion: ExclusionLoss(classes: 3, annotated: [1]), exclusionWeight: 0.25)
        let teacher = Activation(t)
        // The supervised Dice-CE computes its softmax in Float: its loss carries ~1e-7 relative rounding, so the
        // step is larger and the tolerance looser than for the distillation and exclusion terms (Double inside).
        Self.checkGradient(z, h: 1e-2, atol: 2e-4, rtol: 1e-2) { a, g in
            let (l, grad) = o.compute(a, labels: y, teacher: teacher)
            g.pointer.update(from: grad.pointer, count: g.count)
            return l
        }
    }

    /// Cosine from 1e-3 to 1e-5 over 100 steps: by hand 1e-3 at 0, (1e-3 + 1e-5) / 2 at 50, 1e-5 at 100 and after.
    @Test func cosineSchedule() {
        let s = LearningRateSchedule.cosine
        #expect(abs(s.rate(base: 1e-3, minimum: 1e-5, step: 0, totalSteps: 100) - 1e-3) <= 1e-9)
        #expect(abs(s.rate(base: 1e-3, minimum: 1e-5, step: 50, totalSteps: 100) - 5.05e-4) <= 1e-9)
        // step 25: 1e-5 + 0.5 (0.99e-3)(1 + cos(pi/4)) = 1e-5 + 0.495e-3 x 1.70710678
        #expect(abs(s.rate(base: 1e-3, minimum: 1e-5, step: 25, totalSteps: 100) - 8.550179e-4) <= 1e-9)
        #expect(abs(s.rate(base: 1e-3, minimum: 1e-5, step: 130, totalSteps: 100) - 1e-5) <= 1e-9)
        #expect(LearningRateSchedule.constant.rate(base: 2e-3, minimum: 0, step: 70, totalSteps: 100) == 2e-3)
    }

    /// Gradients (3, 4) on a 2-element parameter: norm 5; clipped to 1 they become (0.6, 0.8); below the clip unchanged.
    @Test func gradientNormClipping() {
        let b = StoreBuilder(seed: 1)
        _ = b.add("w", shape: [2], values: [0, 0])
        _ = b.add("buf", shape: [1], kind: .buffer, values: [0])
        let store = b.build()
        store.gradients.pointer[0] = 3; store.gradients.pointer[1] = 4; store.gradients.pointer[2] = 100
        #expect(store.clipGradientNorm(10) == 5)
        #expect(store.flatGradients() == [3, 4, 100])
        #expect(store.clipGradientNorm(1) == 5)
        let g = store.flatGradients()
        #expect(abs(g[0] - 0.6) <= 1e-6 && abs(g[1] - 0.8) <= 1e-6 && g[2] == 100)
    }

    /// Adam continued from a saved state takes exactly the steps an uninterrupted Adam takes.
    @Test func adamStateContinues() {
        func store() -> ParameterStore {
            let b = StoreBuilder(seed: 1)
            _ = b.add("w", shape: [3], values: [0.5, -1, 2])
            return b.build()
        }
        let a = store(), b = store()
        let adamA = Adam(a, learningRate: 0.1), adamB = Adam(b, learningRate: 0.1)
        let grads: [[Float]] = [[1, -2, 0.5], [0.3, 0.1, -1], [2, 2, 2]]
        for (i, g) in grads.enumerated() {
            for (j, x) in g.enumerated() { a.gradients.pointer[j] = x; b.gradients.pointer[j] = x }
            adamA.step()
            if i == 0 {
                adamB.step()
                let saved = adamB.state
                let fresh = Adam(b, learningRate: 0.1)
                fresh.load(saved)
                #expect(fresh.state == saved && saved.steps == 1)
                // Continue with the restored optimiser.
                for (k, x) in grads[1].enumerated() { b.gradients.pointer[k] = x }
                fresh.step()
                for (k, x) in grads[2].enumerated() { b.gradients.pointer[k] = x }
                fresh.step()
            }
        }
        #expect(a.flat() == b.flat())
    }
}
