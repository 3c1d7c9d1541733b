import Tensor

/// 3-D convolution, PyTorch `Conv3d(in, out, kernel, stride, padding, bias=True)`.
///
/// Layout: input `N x in x D x H x W`, output `N x out x D' x H' x W'` with
/// `D' = (D + 2 padding - kernel) / stride + 1`; weight `[out, in, k, k, k]`, bias `[out]`.
/// 3x3x3 stride-1 layers on planes of at least 12 x 12 run the direct kernels (`DirectConv`); the
/// others are lowered to sgemm on tiles of the im2col matrix (`ConvKernels`).
final class Conv3d: Layer {
    let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    let weight: Int, bias: Int
    /// False for layers that read the network input: their input gradient is never needed.
    var needsInputGradient = true
    private var saved: Activation?

    init(_ b: StoreBuilder, name: String, in cin: Int, out cout: Int, kernel: Int, stride: Int, padding: Int) {
        inChannels = cin; outChannels = cout
        self.kernel = kernel; self.stride = stride; self.padding = padding
        // PyTorch's default: kaiming_uniform(a = sqrt 5) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), same for bias.
        let bound = 1 / Float(cin * kernel * kernel * kernel).squareRoot()
        weight = b.uniform(name + ".weight", shape: [cout, cin, kernel, kernel, kernel], bound: bound)
        bias = b.uniform(name + ".bias", shape: [cout], bound: bound)
    }

    func geometry(_ x: Activation) -> ConvGeometry {
        ConvGeometry(channels: inChannels, input: (x.d, x.h, x.w), kernel: kernel, stride: stride, pad: padding)
    }

    func forward(_ x: Activation, _ ctx: Context) -> Activation {
        precondition(x.c == inChannels, "Conv3d: input has \(x.c) channels, layer expects \(inChannels) (shape \(x.shape))")
        let g = geometry(x)
        let y = Activation(n: x.n, c: outChannels, d: g.outD, h: g.outH, w: g.outW)
        let flops = 2.0 * Double(x.n * outChannels * g.rows * g.outSize)
        ctx.timed("conv\(kernel) s\(stride)\(ctx.detail ? " \(inChannels)->\(outChannels)@\(g.outD)" : "") fwd", flops: flops) {
            if let isa = DirectConv.selected, DirectConv.handles(g) {
                let p = ctx.packed(self, folded: false) { .init(packed: [.convolution(ctx.params + weight, cout: outChannels, cin: inChannels)]) }
                DirectConv.forward(packed: p.packed[0], bias: ctx.params + bias, cout: outChannels,
                                   x: x.pointer, batch: x.n, g: g, y: y.pointer, isa: isa)
            } else if let isa = DirectConv.selected, DirectConv.handlesStrided(g) {
                DirectConv.stridedForward([.init(packed: packedStrided(ctx).packed[0], bias: ctx.params + bias, y: y.pointer)],
                                          cout: outChannels, x: x.pointer, batch: x.n, g: g, isa: isa)
            } else {
                ConvKernels.gatherProduct(a: ctx.params + weight, m: outChannels, x: x.pointer, batch: x.n, g: g, y: y.pointer)
                addBias(y, ctx.params + bias)
            }
        }
        saved = ctx.training ? x : nil
        return y
    }

    /// This layer's weights packed for the stride-2 direct kernel (cached in eval mode).
    func packedStrided(_ ctx: Context) -> PackedWeightCache.Entry {
        ctx.packed(self, folded: false) { .init(packed: [.strided(ctx.params + weight, cout: outChannels, cin: inChannels)]) }
    }

    func backward(_ dy: Activation, _ ctx: Context) -> Activation? {
        guard let x = saved else { preconditionFailure("Conv3d.backward without a training forward") }
        saved = nil
        let g = geometry(x)
        let flops = 2.0 * Double(x.n * outChannels * g.rows * g.outSize)
        let direct = DirectConv.handles(g) ? DirectConv.selected : nil
        ctx.timed("conv\(kernel) s\(stride)\(ctx.detail ? " \(inChannels)->\(outChannels)@\(g.outD)" : "") dW", flops: flops) {
            if let isa = direct {
                DirectConv.weightGradient(dy: dy.pointer, cout: outChannels, x: x.pointer, batch: x.n, g: g,
                                          dw: ctx.grads + weight, isa: isa)
            } else {
                ConvKernels.gatherWeightGradient(d: dy.pointer, m: outChannels, x: x.pointer, batch: x.n, g: g,
                                                 dA: ctx.grads + weight)
            }
            accumulateBiasGradient(dy, ctx.grads + bias)
        }
        guard needsInputGradient else { return nil }
        let dx = x.like(channels: inChannels, zeroed: direct == nil)
        ctx.timed("conv\(kernel) s\(stride)\(ctx.detail ? " \(inChannels)->\(outChannels)@\(g.outD)" : "") dX", flops: flops) {
            if let isa = direct {
                DirectConv.inputGradient(weights: ctx.params + weight, cout: outChannels, dy: dy.pointer, batch: x.n,
                                         g: g, dx: dx.pointer, isa: isa)
            } else {
                ConvKernels.scatterProduct(a: ctx.params + weight, r: outChannels, y: dy.pointer, batch: x.n, g: g, x: dx.pointer)
            }
        }
        return dx
    }
}

/// 3-D transposed convolution, PyTorch `ConvTranspose3d(in, out, 3, stride=2, padding=1,
/// output_padding=1, bias=True)`: doubles each spatial extent.
///
/// Layout: input `N x in x D x H x W`, output `N x out x 2D x 2H x 2W`; weight `[in, out, 3, 3, 3]`,
/// bias `[out]`. Forward is the input gradient of the matching convolution (col2im scatter),
/// its input gradient is that convolution's forward (im2col gather).
final class ConvTranspose3d: Layer {
    let inChannels: Int, outChannels: Int, stride: Int
    let weight: Int, bias: Int
    private var saved: Activation?

    init(_ b: StoreBuilder, name: String, in cin: Int, out cout: Int, stride: Int) {
        inChannels = cin; outChannels = cout; self.stride = stride
        // PyTorch computes fan_in of a transposed weight [in, out, k^3] from dimension 1: out * 27.
        let bound = 1 / Float(cout * 27).squareRoot()
        weight = b.uniform(name + ".weight", shape: [cin, cout, 3, 3, 3], bound: bound)
        bias = b.uniform(name + ".bias", shape: [cout], bound: bound)
    }

    /// The geometry of the matching convolution: from the (large) output grid to the input grid.
    func geometry(_ x: Activation) -> ConvGeometry {
        let s = stride
        // (in - 1) * s - 2 * pad + kernel + output_padding, with pad 1, kernel 3, output_padding s - 1.
        let o = ((x.d - 1) * s + s, (x.h - 1) * s + s, (x.w - 1) * s + s)
        return ConvGeometry(channels: outChannels, input: o, output: (x.d, x.h, x.w), kernel: 3, stride: s, pad: 1)
    }

    func forward(_ x: Activation, _ ctx: Context) -> Activation {
        precondition(x.c == inChannels, "ConvTranspose3d: input has \(x.c) channels, layer expects \(inChannels) (shape \(x.shape))")
        let g = geometry(x)
        let direct = DirectConv.handlesTransposed(stride: stride, cout: outChannels)
        let y = Activation(n: x.n, c: outChannels, d: g.inD, h: g.inH, w: g.inW, zeroed: !direct)
        let flops = 2.0 * Double(x.n * inChannels * g.rows * g.outSize)
        ctx.timed("convT s\(stride)\(ctx.detail ? " \(inChannels)->\(outChannels)@\(g.inD)" : "") fwd", flops: flops) {
            if direct, let isa = DirectConv.selected {
                let p = ctx.packed(self, folded: false) { .init(packed: [.transposed(ctx.params + weight, cin: inChannels, cout: outChannels)]) }
                DirectConv.transposedForward(packed: p.packed[0], bias: ctx.params + bias, cin: inChannels,
                                             cout: outChannels, x: x.pointer, batch: x.n, size: (x.d, x.h, x.w),
                                             y: y.pointer, isa: isa)
            } else {
                ConvKernels.scatterProduct(a: ctx.params + weight, r: inChannels, y: x.pointer, batch: x.n, g: g, x: y.pointer)
                addBias(y, ctx.params + bias)
            }
        }
        saved = ctx.training ? x : nil
        return y
    }

    func backward(_ dy: Activation, _ ctx: Context) -> Activation? {
        guard let x = saved else { preconditionFailure("ConvTranspose3d.backward without a training forward") }
        saved = nil
        let g = geometry(x)
        let flops = 2.0 * Double(x.n * inChannels * g.rows * g.outSize)
        ctx.timed("convT s\(stride)\(ctx.detail ? " \(inChannels)->\(outChannels)@\(g.inD)" : "") dW", flops: flops) {
            ConvKernels.gatherWeightGradient(d: x.pointer, m: inChannels, x: dy.pointer, batch: x.n, g: g,
                                             dA: ctx.grads + weight)
            accumulateBiasGradient(dy, ctx.grads + bias)
        }
        let dx = x.like(channels: inChannels)
        ctx.timed("convT s\(stride)\(ctx.detail ? " \(inChannels)->\(outChannels)@\(g.inD)" : "") dX", flops: flops) {
            ConvKernels.gatherProduct(a: ctx.params + weight, m: inChannels, x: dy.pointer, batch: x.n, g: g, y: dx.pointer)
        }
        return dx
    }
}

/// `y[n, c, :] += bias[c]`.
func addBias(_ y: Activation, _ bias: UnsafeMutablePointer<Float>) {
    let py = UncheckedSendable(y.pointer), pb = UncheckedSendable(bias)
    let s = y.spatial
    Compute.forEachTask(y.n * y.c) { _, t in
        let b = pb.value[t % y.c]
        let p = py.value + t * s
        for i in 0..<s { p[i] += b }
    }
}

/// `grad[c] += sum over n and voxels of dy[n, c, :]` (accumulated in Double).
func accumulateBiasGradient(_ dy: Activation, _ grad: UnsafeMutablePointer<Float>) {
    let sums = channelSums(dy)
    for c in 0..<dy.c { grad[c] += Float(sums[c]) }
}

/// Per-channel sums over batch and voxels, in Double.
func channelSums(_ a: Activation) -> [Double] {
    var sums = [Double](repeating: 0, count: a.c)
    let pa = UncheckedSendable(a.pointer)
    let s = a.spatial
    sums.withUnsafeMutableBufferPointer { out in
        let po = UncheckedSendable(out.baseAddress!)
        Compute.forEachTask(a.c) { _, c in
            var acc = 0.0
            for n in 0..<a.n { acc += sumDouble(pa.value + (n * a.c + c) * s, s) }
            po.value[c] = acc
        }
    }
    return sums
}
