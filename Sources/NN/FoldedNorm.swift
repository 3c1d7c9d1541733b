import Tensor

/// An eval-mode batch norm and the PReLU after it, folded into the convolution before them: the
/// norm is then a per-channel affine map `y = scale * z + shift`, so the convolution runs with its
/// weights scaled by `scale`, its bias mapped to `scale * bias + shift`, and applies PReLU as it
/// stores each output (one pass over the activation fewer per block).
///
/// Only batch norm in eval mode folds: instance norm (and batch norm in training) needs statistics of
/// the convolution's output, so those blocks keep the separate ``NormPReLU`` pass.
struct FoldedNorm {
    /// Per output channel.
    var scale: [Float], shift: [Float]
    /// The PReLU slope (one value, in the parameter store).
    var slope: UnsafePointer<Float>

    /// Weights with `scale` applied per output channel and the mapped bias. `transposed`: weights are
    /// `in x out x 27` (a transposed convolution's), else `out x in x k^3`.
    func apply(weights w: UnsafePointer<Float>, count: Int, bias b: UnsafePointer<Float>, transposed: Bool) -> (FloatBuffer, FloatBuffer) {
        let cout = scale.count
        let fw = FloatBuffer(count: count), fb = FloatBuffer(count: cout)
        // runs of `run` weights share an output channel: k^3 taps (transposed) or all inputs x k^3 taps
        let run = transposed ? 27 : count / cout
        let dst = fw.pointer
        scale.withUnsafeBufferPointer { sc in
            for r in 0..<(count / run) {
                let s = sc[r % cout], base = r * run
                for i in base..<(base + run) { dst[i] = w[i] * s }
            }
        }
        for co in 0..<cout { fb.pointer[co] = b[co] * scale[co] + shift[co] }
        return (fw, fb)
    }
}

extension NormPReLU {
    /// The folded form of this block in eval mode with batch norm; nil otherwise (instance norm, training).
    func folded(_ ctx: Context) -> FoldedNorm? {
        guard kind == .batch, !ctx.training, ctx.foldsNormalization, let gamma, let beta, let runningMean, let runningVar else { return nil }
        var scale = [Float](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            // as the unfused pass: invstd in Double, then scale = gamma * invstd, shift = beta - mean * scale
            let invstd = Float(1 / (Double(ctx.params[runningVar + c]) + eps).squareRoot())
            scale[c] = ctx.params[gamma + c] * invstd
            shift[c] = ctx.params[beta + c] - ctx.params[runningMean + c] * scale[c]
        }
        return FoldedNorm(scale: scale, shift: shift, slope: UnsafePointer(ctx.params + slope))
    }
}

extension Conv3d {
    /// This layer's weights with `fold` applied, packed for the direct kernel of `g` (cached in eval mode),
    /// and the folded bias.
    func packedFolded(_ ctx: Context, _ fold: FoldedNorm, _ g: ConvGeometry) -> PackedWeightCache.Entry {
        ctx.packed(self, folded: true) {
            let (w, b) = fold.apply(weights: ctx.params + weight, count: outChannels * g.rows, bias: ctx.params + bias,
                                    transposed: false)
            let p: DirectConv.PackedWeights = g.stride == 1 ? .convolution(w.pointer, cout: outChannels, cin: inChannels)
                : .strided(w.pointer, cout: outChannels, cin: inChannels)
            return .init(packed: [p], bias: b)
        }
    }

    /// Eval-mode forward with `fold` applied, on the direct kernels; nil when this layer's geometry
    /// does not run there (the caller then runs the convolution and the norm separately).
    func forwardFolded(_ x: Activation, _ ctx: Context, _ fold: FoldedNorm) -> Activation? {
        let g = geometry(x)
        guard let isa = DirectConv.selected, DirectConv.handles(g) || DirectConv.handlesStrided(g) else { return nil }
        let y = Activation(n: x.n, c: outChannels, d: g.outD, h: g.outH, w: g.outW)
        let flops = 2.0 * Double(x.n * outChannels * g.rows * g.outSize)
        ctx.timed("conv\(kernel) s\(stride)+norm+prelu\(ctx.detail ? " \(inChannels)->\(outChannels)@\(g.outD)" : "") fwd", flops: flops) {
            let p = packedFolded(ctx, fold, g)
            guard let folded = p.bias else { preconditionFailure("Conv3d: folded weights without their bias") }
            let bias = UnsafePointer(folded.pointer)
            if DirectConv.handles(g) {
                DirectConv.forward(packed: p.packed[0], bias: bias, prelu: fold.slope, cout: outChannels,
                                   x: x.pointer, batch: x.n, g: g, y: y.pointer, isa: isa)
            } else {
                DirectConv.stridedForward([.init(packed: p.packed[0], bias: bias, prelu: fold.slope, y: y.pointer)],
                                          cout: outChannels, x: x.pointer, batch: x.n, g: g, isa: isa)
            }
            withExtendedLifetime(p) {}
        }
        return y
    }
}

extension ConvTranspose3d {
    /// Eval-mode forward with `fold` applied, on the direct kernels; nil when they do not run this layer.
    func forwardFolded(_ x: Activation, _ ctx: Context, _ fold: FoldedNorm) -> Activation? {
        guard let isa = DirectConv.selected, DirectConv.handlesTransposed(stride: stride, cout: outChannels) else { return nil }
        let g = geometry(x)
        let y = Activation(n: x.n, c: outChannels, d: g.inD, h: g.inH, w: g.inW)
        let flops = 2.0 * Double(x.n * inChannels * g.rows * g.outSize)
        ctx.timed("convT s\(stride)+norm+prelu\(ctx.detail ? " \(inChannels)->\(outChannels)@\(g.inD)" : "") fwd", flops: flops) {
            let p = ctx.packed(self, folded: true) {
                let (w, b) = fold.apply(weights: ctx.params + weight, count: inChannels * outChannels * 27, bias: ctx.params + bias,
                                        transposed: true)
                return .init(packed: [.transposed(w.pointer, cin: inChannels, cout: outChannels)], bias: b)
            }
            guard let bias = p.bias else { preconditionFailure("ConvTranspose3d: folded weights without their bias") }
            DirectConv.transposedForward(packed: p.packed[0], bias: UnsafePointer(bias.pointer), prelu: fold.slope, cin: inChannels,
                                         cout: outChannels, x: x.pointer, batch: x.n, size: (x.d, x.h, x.w),
                                         y: y.pointer, isa: isa)
            withExtendedLifetime(p) {}
        }
        return y
    }
}
