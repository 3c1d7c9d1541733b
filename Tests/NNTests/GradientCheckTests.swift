import Testing
import Tensor
@testable import NN

/// Finite-difference checks of every layer's backward pass on small random shapes
/// (odd extents, stride 2, output padding), through the loss `L = sum(w * y)` with random `w`.
@Suite struct GradientCheckTests {
    /// A layer under test with its parameters and a random input.
    struct Harness {
        let store: ParameterStore
        let layer: Layer
        var x: Activation
        var rng = SplitMix64(seed: 99)

        init(seed: UInt64, input: [Int], _ make: (StoreBuilder) -> Layer) {
            let b = StoreBuilder(seed: seed)
            layer = make(b)
            store = b.build()
            x = Activation(n: input[0], c: input[1], d: input[2], h: input[3], w: input[4])
            rng = SplitMix64(seed: seed &+ 1)
            for i in 0..<x.count { x.pointer[i] = rng.nextUnit() * 2 - 1 }
            // Non-trivial normalisation parameters and PReLU slope.
            for blk in store.blocks where blk.kind == .parameter && blk.name.contains(".adn.") {
                for i in blk.range { store.values.pointer[i] = blk.name.hasSuffix("A.weight") ? 0.3 : rng.nextUnit() + 0.5 }
            }
        }

        /// `L = sum(w * forward(x))` in Double with fixed weights `w` of the output's size.
        func loss(_ w: [Float]) -> Double {
            let y = layer.forward(x, Context(store: store, training: true))
            var s = 0.0
            for i in 0..<y.count { s += Double(w[i]) * Double(y.pointer[i]) }
            return s
        }

        /// Compares analytic and central-difference gradients element by element, |analytic - numeric| <=
        /// atol + rtol |numeric| with tolerances fixed by the caller, at `samples` sampled entries of the input
        /// and of every parameter tensor (every entry of a tensor with fewer). A bias feeding a normalisation
        /// has true gradient 0: there the numeric value is rounding noise, which `atol` covers.
        mutating func check(eps: Float = 1e-3, samples: Int = 12, atol: Float, rtol: Float = 1e-2, needsInput: Bool = true) {
            let y = layer.forward(x, Context(store: store, training: true))
            var w = [Float](repeating: 0, count: y.count)
            for i in w.indices { w[i] = rng.nextUnit() * 2 - 1 }
            let dy = y.like(channels: y.c)
            for i in w.indices { dy.pointer[i] = w[i] }
            store.zeroGradients()
            _ = layer.forward(x, Context(store: store, training: true))
            let dx = layer.backward(dy, Context(store: store, training: true))
            var targets: [(String, UnsafeMutablePointer<Float>, [Float])] = []
            if needsInput, let dx { targets.append(("input", x.pointer, dx.buffer.array)) }
            for blk in store.blocks where blk.kind == .parameter {
                targets.append((blk.name, store.values.pointer + blk.offset, store.flatGradients([blk])))
            }
            var worst: Float = 0
            for (name, p, analytic) in targets {
                let picks = analytic.count <= samples ? Array(analytic.indices)
                    : (0..<samples).map { _ in Int(rng.next() % UInt64(analytic.count)) }
                for i in picks {
                    let saved = p[i]
                    p[i] = saved + eps; let lp = loss(w)
                    p[i] = saved - eps; let lm = loss(w)
                    p[i] = saved
                    let numeric = Float((lp - lm) / Double(2 * eps))
                    let err = abs(numeric - analytic[i])
                    worst = max(worst, err / (atol + rtol * abs(numeric)))
                    #expect(err <= atol + rtol * abs(numeric), "\(name)[\(i)]: analytic \(analytic[i]) numeric \(numeric)")
                }
            }
            print("gradient check: worst error \(worst) of the tolerance")
        }
    }

    @Test(arguments: [(3, 1), (3, 2), (1, 1)])
    func conv3d(kernel: Int, stride: Int) {
        var h = Harness(seed: 1, input: [2, 3, 5, 7, 6]) { b in
            Conv3d(b, name: "c", in: 3, out: 4, kernel: kernel, stride: stride, padding: kernel / 2)
        }
        h.check(eps: 1e-2, atol: 1e-3)
    }

    @Test func convTranspose3dStride2OutputPadding() {
        var h = Harness(seed: 2, input: [2, 5, 3, 2, 3]) { b in ConvTranspose3d(b, name: "t", in: 5, out: 3, stride: 2) }
        h.check(eps: 1e-2, atol: 1e-3)
    }

    @Test(arguments: Normalization.allCases)
    func normPReLU(_ kind: Normalization) {
        var h = Harness(seed: 3, input: [2, 3, 3, 5, 4]) { b in NormPReLU(b, name: "adn", channels: 3, kind: kind) }
        h.check(eps: 1e-3, samples: 20, atol: 1e-3)
    }

    /// Slices large enough to be cut into pieces across workers.
    @Test(arguments: Normalization.allCases)
    func normPReLULargeSlices(_ kind: Normalization) {
        #expect(partsPerSlice(1, 48 * 48 * 32) >= 2 || Compute.threads == 1)
        var h = Harness(seed: 7, input: [1, 1, 48, 48, 32]) { b in NormPReLU(b, name: "adn", channels: 1, kind: kind) }
        // The loss sums 73,728 Float outputs: its rounding noise over 2 eps is about 6e-3 here.
        h.check(eps: 1e-3, samples: 8, atol: 2e-2)
    }

    @Test func residualUnitWithStridedConvResidual() {
        var h = Harness(seed: 4, input: [2, 2, 5, 4, 6]) { b in
            ResidualUnit(b, name: "ru", in: 2, out: 3, stride: 2, subunits: 2, lastConvOnly: false, norm: .batch)
        }
        h.check(eps: 1e-3, atol: 1e-3)
    }

    @Test func residualUnitIdentityConvOnly() {
        var h = Harness(seed: 5, input: [1, 3, 3, 5, 3]) { b in
            ResidualUnit(b, name: "ru", in: 3, out: 3, stride: 1, subunits: 1, lastConvOnly: true, norm: .instance)
        }
        h.check(eps: 1e-2, atol: 1e-3)
    }

    @Test func skipConnectionConcatenates() {
        var h = Harness(seed: 6, input: [2, 2, 3, 4, 5]) { b in
            SkipConnection(Conv3d(b, name: "s", in: 2, out: 3, kernel: 3, stride: 1, padding: 1))
        }
        h.check(eps: 1e-2, atol: 1e-3)
    }

    /// The whole network through DiceCE, plain and marginal: d loss / d parameters.
    @Test(arguments: [(false, 2), (true, 2), (false, 0)])
    func unetThroughDiceCE(marginal: Bool, resUnits: Int) {
        let net = UNet(UNetConfig(outChannels: 3, channels: [3, 4, 5], strides: [2, 2], numResUnits: resUnits, norm: .batch), seed: 3)
        if resUnits == 0 {
            // MONAI's names without residual units: Convolution blocks directly, a bare head conv.
            let names = net.parameters.blocks.map(\.name)
            #expect(names.first == "model.0.conv.weight" && names.contains("model.1.submodule.1.submodule.adn.N.weight"))
            #expect(names.suffix(2) == ["model.2.conv.weight", "model.2.conv.bias"])
        }
        var rng = SplitMix64(seed: 8)
        let input = Tensor(shape: [2, 1, 8, 4, 8], scalars: (0..<512).map { _ in rng.nextUnit() })
        let labels = Tensor(shape: [2, 1, 8, 4, 8], scalars: (0..<512).map { _ in Float(rng.next() % 3) })
        let loss = marginal ? DiceCELoss.marginal(classes: 3, annotated: [2]) : DiceCELoss()
        net.parameters.zeroGradients()
        net.lossAndGradients(input: input, labels: labels, loss: loss)
        let grads = net.parameters.flatGradients()
        let p = net.parameters.values.pointer
        func l() -> Double {
            let x = Activation(input)
            let z = net.forwardActivation(x, training: true)
            return loss.compute(z, labels: loss.labelIndices(labels, logits: z.shape)).0
        }
        // Every parameter tensor (weights, biases, normalisation parameters; the small ones too), sampled
        // elements, each within fixed tolerances of the central difference.
        let eps: Float = 1e-3, atol: Float = 2e-3, rtol: Float = 1e-2
        var worst: Float = 0
        for blk in net.parameters.blocks where blk.kind == .parameter {
            let picks = blk.count <= 3 ? Array(0..<blk.count) : (0..<3).map { _ in Int(rng.next() % UInt64(blk.count)) }
            for j in picks {
                let i = blk.offset + j
                let s = p[i]
                p[i] = s + eps; let lp = l()
                p[i] = s - eps; let lm = l()
                p[i] = s
                let numeric = Float((lp - lm) / Double(2 * eps))
                worst = max(worst, abs(numeric - grads[i]) / (atol + rtol * abs(numeric)))
                #expect(abs(numeric - grads[i]) <= atol + rtol * abs(numeric), "\(blk.name)[\(j)]: analytic \(grads[i]) numeric \(numeric)")
            }
        }
        print("unet gradient check: worst error \(worst) of the tolerance")
    }

    /// d loss / d logits of DiceCE, plain and marginal, against central differences.
    @Test(arguments: [nil, [0, 1, 0, 2]] as [[Int]?])
    func diceCELogits(classMap: [Int]?) {
        var rng = SplitMix64(seed: 5)
        let shape = [2, 4, 3, 2, 3]
        var z = Activation(n: 2, c: 4, d: 3, h: 2, w: 3)
        for i in 0..<z.count { z.pointer[i] = rng.nextUnit() * 4 - 2 }
        let labels = (0..<(2 * 18)).map { _ in Int32(rng.next() % 4) }
        let loss = DiceCELoss(classMap: classMap)
        let (_, g) = loss.compute(z, labels: labels)
        let analytic = g.buffer.array
        for i in stride(from: 0, to: z.count, by: 5) {
            let s = z.pointer[i], eps: Float = 1e-3
            z.pointer[i] = s + eps; let lp = loss.compute(z, labels: labels).0
            z.pointer[i] = s - eps; let lm = loss.compute(z, labels: labels).0
            z.pointer[i] = s
            let numeric = Float((lp - lm) / Double(2 * eps))
            #expect(abs(numeric - analytic[i]) < 2e-4 + 1e-2 * abs(analytic[i]), "logit \(i) of \(shape): \(analytic[i]) vs \(numeric)")
        }
        _ = z
    }
}
