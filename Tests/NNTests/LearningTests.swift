import Testing
import Tensor
@testable import NN

/// The network learns shape and position, not brightness: two spheres of equal intensity, only
/// the left one labelled, so no intensity threshold can separate them.
@Suite struct LearningTests {
    static let size = 24

    /// One sample: a left and a right sphere (jittered centres and radii), intensity 1 plus noise.
    static func sample(_ rng: inout SplitMix64) -> (image: [Float], label: [Float]) {
        let s = size
        func jitter(_ lo: Int, _ hi: Int) -> Int { lo + Int(rng.next() % UInt64(hi - lo + 1)) }
        let left = (jitter(8, 15), jitter(8, 15), jitter(5, 8)), right = (jitter(8, 15), jitter(8, 15), jitter(15, 18))
        let rl = Float(jitter(3, 4)), rr = Float(jitter(3, 4))
        var img = [Float](repeating: 0, count: s * s * s), lab = img
        for z in 0..<s { for y in 0..<s { for x in 0..<s {
            let i = (z * s + y) * s + x
            func inside(_ c: (Int, Int, Int), _ r: Float) -> Bool {
                let d = Float((z - c.0) * (z - c.0) + (y - c.1) * (y - c.1) + (x - c.2) * (x - c.2))
                return d <= r * r
            }
            let l = inside(left, rl), r = inside(right, rr)
            img[i] = (l || r ? 1 : 0) + (rng.nextUnit() - 0.5) * 0.2
            lab[i] = l ? 1 : 0
        } } }
        return (img, lab)
    }

    static func batch(_ n: Int, _ rng: inout SplitMix64) -> (Tensor, Tensor) {
        var x: [Float] = [], y: [Float] = []
        for _ in 0..<n { let (i, l) = sample(&rng); x += i; y += l }
        let s = size
        return (Tensor(shape: [n, 1, s, s, s], scalars: x), Tensor(shape: [n, 1, s, s, s], scalars: y))
    }

    @Test func learnsLeftSphereNotBrightness() {
        let net = UNet(UNetConfig(outChannels: 2, channels: [8, 16, 32], strides: [2, 2], numResUnits: 2, norm: .batch), seed: 11)
        let adam = Adam(net.parameters, learningRate: 1e-2)
        var rng = SplitMix64(seed: 2024)
        var losses: [Float] = []
        for _ in 0..<150 {
            let (x, y) = Self.batch(2, &rng)
            losses.append(net.trainStep(input: x, labels: y, optimizer: adam))
        }
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        #expect(last < 0.5 * first, "loss went from \(first) to \(last)")

        // Held-out samples, eval mode (batch norm running statistics): Dice of the left sphere.
        var dices: [Double] = []
        for _ in 0..<4 {
            let (x, y) = Self.batch(1, &rng)
            let p = net.predictLabels(x).scalars
            var inter = 0.0, sp = 0.0, sy = 0.0
            for i in p.indices { inter += Double(p[i] * y.scalars[i]); sp += Double(p[i]); sy += Double(y.scalars[i]) }
            dices.append(2 * inter / max(sp + sy, 1))
        }
        let dice = dices.reduce(0, +) / Double(dices.count)
        print("learning: loss \(first) -> \(last), held-out Dice \(dices)")
        #expect(dice > 0.9, "held-out Dice \(dices)")
    }
}
