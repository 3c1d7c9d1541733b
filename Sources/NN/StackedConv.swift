import Tensor

/// Two convolutions of the same input with the same geometry — a down level's first unit and
/// its strided 3x3x3 residual path. On the direct kernels (stride 2) the input is split into its
/// phases once for both; otherwise they run as one product with their weights stacked
/// (`2 out x in*27`): one im2col per tile instead of two, and an sgemm twice as tall.
///
/// Layout: input `N x in x D x H x W`; the two outputs `N x out x D' x H' x W'` each.
/// Numbers equal those of the two separate ``Conv3d``s; parameters stay in their own blocks.
final class StackedConvPair {
    let first: Conv3d, second: Conv3d
    private var saved: Activation?

    /// Nil unless both convolutions have the same channels, kernel, stride and padding.
    init?(_ a: Conv3d, _ b: Conv3d) {
        guard a.inChannels == b.inChannels, a.outChannels == b.outChannels, a.kernel == b.kernel,
              a.stride == b.stride, a.padding == b.padding, a.kernel == 3 else { return nil }
        first = a; second = b
    }

    private func stackedWeights(_ ctx: Context, rows: Int) -> FloatBuffer {
        let m = first.outChannels
        let w = FloatBuffer(count: 2 * m * rows)
        w.pointer.update(from: ctx.params + first.weight, count: m * rows)
        (w.pointer + m * rows).update(from: ctx.params + second.weight, count: m * rows)
        return w
    }

    /// Both outputs; with `fold` (eval mode) on the direct kernels, the first output has the norm and
    /// PReLU that follow it applied already (`folded` says whether it has).
    func forward(_ x: Activation, _ ctx: Context, fold: FoldedNorm? = nil) -> (Activation, Activation, folded: Bool) {
        precondition(x.c == first.inChannels, "StackedConvPair: input has \(x.c) channels, expects \(first.inChannels) (shape \(x.shape))")
        let g = first.geometry(x), m = first.outChannels
        let y0 = Activation(n: x.n, c: m, d: g.outD, h: g.outH, w: g.outW), y1 = y0.like(channels: m)
        var folded = false
        ctx.timed("conv3 s\(first.stride) x2\(label(ctx, g)) fwd", flops: 4.0 * Double(x.n * m * g.rows * g.outSize)) {
            if let isa = DirectConv.selected, DirectConv.handlesStrided(g) {
                // the tap kernels split the input once and compute both outputs from it
                let p0 = fold.map { first.packedFolded(ctx, $0, g) } ?? first.packedStrided(ctx), p1 = second.packedStrided(ctx)
                DirectConv.stridedForward([.init(packed: p0.packed[0], bias: p0.bias?.pointer ?? ctx.params + first.bias,
                                                 prelu: fold?.slope, y: y0.pointer),
                                           .init(packed: p1.packed[0], bias: ctx.params + second.bias, y: y1.pointer)],
                                          cout: m, x: x.pointer, batch: x.n, g: g, isa: isa)
                withExtendedLifetime(p0) {}
                folded = fold != nil
                return
            }
            let y = Activation(n: x.n, c: 2 * m, d: g.outD, h: g.outH, w: g.outW)
            let w = stackedWeights(ctx, rows: g.rows)
            ConvKernels.gatherProduct(a: w.pointer, m: 2 * m, x: x.pointer, batch: x.n, g: g, y: y.pointer)
            split(y, into: y0, y1)
            addBias(y0, ctx.params + first.bias)
            addBias(y1, ctx.params + second.bias)
        }
        saved = ctx.training ? x : nil
        return (y0, y1, folded)
    }

    /// Accumulates both convolutions' parameter gradients from their output gradients and
    /// returns the input gradient (nil when the input needs none).
    func backward(_ d0: Activation, _ d1: Activation, _ ctx: Context) -> Activation? {
        guard let x = saved else { preconditionFailure("StackedConvPair.backward without a training forward") }
        saved = nil
        let g = first.geometry(x), m = first.outChannels
        let d = Activation(n: d0.n, c: 2 * m, d: d0.d, h: d0.h, w: d0.w)
        let flops = 4.0 * Double(x.n * m * g.rows * g.outSize)
        stack(d0, d1, into: d)
        ctx.timed("conv3 s\(first.stride) x2\(label(ctx, g)) dW", flops: flops) {
            let dA = FloatBuffer(count: 2 * m * g.rows, zeroed: true)
            ConvKernels.gatherWeightGradient(d: d.pointer, m: 2 * m, x: x.pointer, batch: x.n, g: g, dA: dA.pointer)
            let n = m * g.rows
            for (layer, src) in [(first, dA.pointer), (second, dA.pointer + n)] {
                let dst = ctx.grads + layer.weight
                for i in 0..<n { dst[i] += src[i] }
            }
            accumulateBiasGradient(d0, ctx.grads + first.bias)
            accumulateBiasGradient(d1, ctx.grads + second.bias)
        }
        guard first.needsInputGradient else { return nil }
        let dx = x.like(channels: first.inChannels, zeroed: true)
        ctx.timed("conv3 s\(first.stride) x2\(label(ctx, g)) dX", flops: flops) {
            let w = stackedWeights(ctx, rows: g.rows)
            ConvKernels.scatterProduct(a: w.pointer, r: 2 * m, y: d.pointer, batch: x.n, g: g, x: dx.pointer)
        }
        return dx
    }

    /// Channels and output size for per-layer profiles.
    private func label(_ ctx: Context, _ g: ConvGeometry) -> String {
        ctx.detail ? " \(first.inChannels)->\(first.outChannels)@\(g.outD)" : ""
    }

    /// Copies the channel halves of each sample of `y` into `a` and `b`.
    private func split(_ y: Activation, into a: Activation, _ b: Activation) {
        let per = a.c * a.spatial
        for n in 0..<y.n {
            (a.pointer + n * per).update(from: y.pointer + 2 * n * per, count: per)
            (b.pointer + n * per).update(from: y.pointer + (2 * n + 1) * per, count: per)
        }
    }

    /// Writes `a` and `b` as the channel halves of each sample of `y`.
    private func stack(_ a: Activation, _ b: Activation, into y: Activation) {
        let per = a.c * a.spatial
        for n in 0..<y.n {
            (y.pointer + 2 * n * per).update(from: a.pointer + n * per, count: per)
            (y.pointer + (2 * n + 1) * per).update(from: b.pointer + n * per, count: per)
        }
    }
}
