import Tensor

/// MONAI's `Convolution`: a convolution (or transposed convolution) named `conv`, followed unless
/// `convOnly` by ``NormPReLU`` named `adn`. Layout `NCDHW` in and out.
final class ConvBlock: Layer {
    let conv: Layer
    let adn: NormPReLU?

    init(_ b: StoreBuilder, name: String, in cin: Int, out cout: Int, stride: Int,
         transposed: Bool, convOnly: Bool, norm: Normalization) {
        if transposed {
            conv = ConvTranspose3d(b, name: name + ".conv", in: cin, out: cout, stride: stride)
        } else {
            conv = Conv3d(b, name: name + ".conv", in: cin, out: cout, kernel: 3, stride: stride, padding: 1)
        }
        adn = convOnly ? nil : NormPReLU(b, name: name + ".adn", channels: cout, kind: norm)
    }

    func forward(_ x: Activation, _ ctx: Context) -> Activation {
        // eval-mode batch norm and PReLU folded into the convolution where the direct kernels run it
        if let fold = adn?.folded(ctx) {
            if let c = conv as? Conv3d, let y = c.forwardFolded(x, ctx, fold) { return y }
            if let c = conv as? ConvTranspose3d, let y = c.forwardFolded(x, ctx, fold) { return y }
        }
        let y = conv.forward(x, ctx)
        return adn?.forward(y, ctx) ?? y
    }

    func backward(_ dy: Activation, _ ctx: Context) -> Activation? {
        let dz = adn.map { $0.backward(dy, ctx)! } ?? dy
        return conv.backward(dz, ctx)
    }
}

/// MONAI's `ResidualUnit`: `conv.unit0 ... conv.unit{k-1}` (``ConvBlock``s, the first with the
/// stride) plus a residual path — identity when stride is 1 and channels match, a 1x1x1
/// convolution when only the channels change, else a 3x3x3 convolution with the stride — added
/// to the units' output. Layout `NCDHW` in and out.
final class ResidualUnit: Layer {
    let units: [ConvBlock]
    let residual: Conv3d?
    /// The first unit's convolution and a strided residual convolution, run as one product.
    let stacked: StackedConvPair?

    init(_ b: StoreBuilder, name: String, in cin: Int, out cout: Int, stride: Int, subunits: Int,
         lastConvOnly: Bool, norm: Normalization) {
        var u: [ConvBlock] = []
        var c = cin
        for i in 0..<max(1, subunits) {
            u.append(ConvBlock(b, name: "\(name).conv.unit\(i)", in: c, out: cout, stride: i == 0 ? stride : 1,
                               transposed: false, convOnly: lastConvOnly && i == max(1, subunits) - 1, norm: norm))
            c = cout
        }
        units = u
        if stride != 1 || cin != cout {
            let k = stride == 1 ? 1 : 3
            residual = Conv3d(b, name: name + ".residual", in: cin, out: cout, kernel: k, stride: stride, padding: k / 2)
        } else {
            residual = nil
        }
        if let residual, let c0 = units[0].conv as? Conv3d { stacked = StackedConvPair(c0, residual) } else { stacked = nil }
    }

    /// Marks whether the unit's input needs a gradient (false when it is the network input).
    func setNeedsInputGradient(_ v: Bool) {
        (units[0].conv as? Conv3d)?.needsInputGradient = v
        residual?.needsInputGradient = v
    }

    func forward(_ x: Activation, _ ctx: Context) -> Activation {
        if let stacked {
            let fold = units[0].adn?.folded(ctx)
            let (z0, r, folded) = stacked.forward(x, ctx, fold: fold)
            var h = folded ? z0 : units[0].adn?.forward(z0, ctx) ?? z0
            for u in units.dropFirst() { h = u.forward(h, ctx) }
            ctx.timed("add/concat") { addInPlace(h, r) }
            return h
        }
        let r = residual?.forward(x, ctx) ?? x
        var h = x
        for u in units { h = u.forward(h, ctx) }
        ctx.timed("add/concat") { addInPlace(h, r) }
        return h
    }

    func backward(_ dy: Activation, _ ctx: Context) -> Activation? {
        if let stacked {
            var dh = dy
            for u in units.dropFirst().reversed() { dh = u.backward(dh, ctx)! }
            let dz0 = units[0].adn.map { $0.backward(dh, ctx)! } ?? dh
            return stacked.backward(dz0, dy, ctx)
        }
        var dh: Activation? = dy
        for u in units.reversed() { dh = u.backward(dh!, ctx) }
        guard let residual else {
            if let dh { ctx.timed("add/concat") { addInPlace(dh, dy) } }
            return dh
        }
        let dr = residual.backward(dy, ctx)
        if let dh, let dr { ctx.timed("add/concat") { addInPlace(dh, dr) } }
        return dh
    }
}

/// MONAI's `SkipConnection` (mode "cat"): `cat([x, submodule(x)], dim=1)`.
final class SkipConnection: Layer {
    let submodule: Layer
    private var inputChannels = 0

    init(_ submodule: Layer) { self.submodule = submodule }

    func forward(_ x: Activation, _ ctx: Context) -> Activation {
        let s = submodule.forward(x, ctx)
        precondition(s.n == x.n && s.d == x.d && s.h == x.h && s.w == x.w,
                     "SkipConnection: submodule output \(s.shape) does not match input \(x.shape)")
        inputChannels = x.c
        let y = x.like(channels: x.c + s.c)
        ctx.timed("add/concat") {
            let per = x.spatial
            for n in 0..<x.n {
                (y.pointer + n * y.c * per).update(from: x.pointer + n * x.c * per, count: x.c * per)
                (y.pointer + (n * y.c + x.c) * per).update(from: s.pointer + n * s.c * per, count: s.c * per)
            }
        }
        return y
    }

    func backward(_ dy: Activation, _ ctx: Context) -> Activation? {
        let c1 = inputChannels, c2 = dy.c - c1, per = dy.spatial
        let dx = dy.like(channels: c1), ds = dy.like(channels: c2)
        ctx.timed("add/concat") {
            for n in 0..<dy.n {
                (dx.pointer + n * c1 * per).update(from: dy.pointer + n * dy.c * per, count: c1 * per)
                (ds.pointer + n * c2 * per).update(from: dy.pointer + (n * dy.c + c1) * per, count: c2 * per)
            }
        }
        if let dsub = submodule.backward(ds, ctx) { ctx.timed("add/concat") { addInPlace(dx, dsub) } }
        return dx
    }
}

/// `nn.Sequential`: children named `0`, `1`, ... applied in order.
final class Sequential: Layer {
    let layers: [Layer]
    init(_ layers: [Layer]) { self.layers = layers }

    func forward(_ x: Activation, _ ctx: Context) -> Activation {
        layers.reduce(x) { $1.forward($0, ctx) }
    }

    func backward(_ dy: Activation, _ ctx: Context) -> Activation? {
        var d: Activation? = dy
        for l in layers.reversed() {
            guard let g = d else { return nil }
            d = l.backward(g, ctx)
        }
        return d
    }
}
