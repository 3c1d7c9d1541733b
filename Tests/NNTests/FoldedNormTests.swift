import Testing
import Tensor
@testable import NN

/// Eval-mode batch norm + PReLU folded into the convolutions (``FoldedNorm``) gives the logits of the
/// separate passes; instance norm never folds.
@Suite struct FoldedNormTests {
    /// A network whose norms have non-trivial running statistics, scales, shifts and slopes.
    static func network(norm: Normalization, seed: UInt64) -> UNet {
        let net = UNet(UNetConfig(outChannels: 3, channels: [4, 8, 16], strides: [2, 2], numResUnits: 2, norm: norm), seed: seed)
        var rng = SplitMix64(seed: seed + 1)
        let p = net.parameters.values.pointer
        for b in net.parameters.blocks {
            for i in b.range {
                if b.name.hasSuffix("running_var") { p[i] = 0.2 + rng.nextUnit() }
                else if b.name.hasSuffix("running_mean") || b.name.hasSuffix(".N.bias") { p[i] = rng.nextUnit() - 0.5 }
                else if b.name.hasSuffix(".N.weight") { p[i] = 0.5 + rng.nextUnit() }
                else if b.name.hasSuffix(".A.weight") { p[i] = 0.1 + 0.3 * rng.nextUnit() }
            }
        }
        return net
    }

    @Test(arguments: [Normalization.batch, .instance])
    func foldedMatchesSeparatePasses(_ norm: Normalization) {
        let net = Self.network(norm: norm, seed: 3)
        var rng = SplitMix64(seed: 9)
        let x = Tensor(shape: [2, 1, 16, 16, 32], scalars: (0..<(2 * 16 * 16 * 32)).map { _ in rng.nextUnit() * 2 - 1 })
        let folded = net.predict(x).scalars
        net.foldsNormalization = false
        let separate = net.predict(x).scalars
        let scale = separate.map(abs).max() ?? 1
        let err = zip(folded, separate).map { abs($0 - $1) }.max() ?? 0
        // float32 rounding of two orders of the same sums; a wrong fold is off by the norm's whole effect
        #expect(err <= 1e-5 * scale, "\(norm): max abs difference \(err) against largest logit \(scale)")
        if norm == .instance { #expect(folded == separate) }
    }
}
