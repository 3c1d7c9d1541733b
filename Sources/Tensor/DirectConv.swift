// The one file of the package that imports CKernels.
import CKernels
import Foundation

/// Direct 3x3x3 stride-1 pad-1 convolutions (the C kernels of `CKernels`): forward, input gradient
/// and weight gradient without a column matrix, on a zero-padded copy of the input.
///
/// Tensors are batches of channel-major grids (`NCDHW`, contiguous); `g` is the convolution's
/// geometry (input `g.channels x g.inSize`, output extents equal to the input's). The AVX2 + FMA
/// kernels run on CPUs that have them, portable C elsewhere (``ISA``); `SEGVIZ_KERNELS=plain`
/// forces the portable path and `SEGVIZ_KERNELS=blas` turns the direct kernels off (the layers then
/// use ``ConvKernels``'s im2col + sgemm lowering).
package enum DirectConv {
    /// The instruction set a kernel call runs on.
    package enum ISA: Sendable, Equatable {
        /// Portable C (any CPU).
        case plain
        /// AVX2 + FMA (x86-64 CPUs that report both).
        case avx2
        /// AVX-512F for the tap-list forward on wide planes (16-float vectors, 4 x 48 tiles), AVX2 + FMA for the
        /// rest (x86-64 CPUs that report AVX-512F, AVX2 and FMA).
        case avx512

        var c: ckernels_isa {
            switch self {
            case .plain: return CKERNELS_ISA_PLAIN
            case .avx2: return CKERNELS_ISA_AVX2
            case .avx512: return CKERNELS_ISA_AVX512
            }
        }
    }

    /// The fastest instruction set of this CPU.
    package static let bestISA: ISA = {
        switch ckernels_best_isa() {
        case CKERNELS_ISA_AVX512: return .avx512
        case CKERNELS_ISA_AVX2: return .avx2
        default: return .plain
        }
    }()

    /// Every instruction set this CPU runs, the portable one first (for tests that compare them).
    package static var supportedISAs: [ISA] {
        switch bestISA {
        case .plain: return [.plain]
        case .avx2: return [.plain, .avx2]
        case .avx512: return [.plain, .avx2, .avx512]
        }
    }

    /// What the layers use: ``bestISA`` unless `SEGVIZ_KERNELS=plain` or `avx2` (at most this CPU's best); nil
    /// (im2col + sgemm) when `SEGVIZ_KERNELS=blas`.
    package static let selected: ISA? = {
        switch ProcessInfo.processInfo.environment["SEGVIZ_KERNELS"] {
        case "blas": return nil
        case "plain": return .plain
        case "avx2": return bestISA == .plain ? .plain : .avx2
        default: return bestISA
        }
    }()

    /// A description for benchmark output.
    package static var description: String { selected.map { "direct-\($0)" } ?? "im2col-sgemm" }

    /// Whether the layers run `g` on the direct kernels: 3x3x3, stride 1, padding 1, planes of at
    /// least 12 x 12 (on smaller planes with many channels, im2col + sgemm measured faster).
    package static func handles(_ g: ConvGeometry) -> Bool {
        selected != nil && g.kernel == 3 && g.stride == 1 && g.pad == 1 && g.outH >= 12 && g.outW >= 12
            && g.outD == g.inD && g.outH == g.inH && g.outW == g.inW
    }

    private static func paddedCount(_ g: ConvGeometry, channels: Int) -> Int {
        channels * (g.inD + 2) * (g.inH + 2) * (g.inW + 2) + Int(CKERNELS_SLACK)
    }

    /// Zero-pads every sample of `x` (`batch x channels x grid`) into `xp`, channels spread over workers.
    private static func pad(_ x: UnsafePointer<Float>, channels c: Int, batch: Int, g: ConvGeometry,
                            into xp: UnsafeMutablePointer<Float>) {
        let per = paddedCount(g, channels: c), xs = c * g.inSize
        let px = UncheckedSendable(x), pp = UncheckedSendable(xp)
        Compute.forEachTask(batch * c) { _, t in
            let n = t / c, ch = t % c
            ckernels_pad(px.value + n * xs, Int32(c), Int32(ch), Int32(ch + 1),
                         Int32(g.inD), Int32(g.inH), Int32(g.inW), pp.value + n * per)
        }
    }

    /// Packs `w` (`rows x cols x 27`, or its flipped transpose) into the kernels' blocks.
    private static func packed(_ w: UnsafePointer<Float>, rows: Int, cols: Int, flipTranspose: Bool) -> FloatBuffer {
        let blocks = (rows + Int(CKERNELS_MR) - 1) / Int(CKERNELS_MR)
        let out = FloatBuffer(count: blocks * cols * 27 * Int(CKERNELS_MR))
        ckernels_pack_weights(w, Int32(rows), Int32(cols), flipTranspose ? 1 : 0, out.pointer)
        return out
    }

    /// Runs the forward kernel (the tap-list kernel with all 27 taps) over every output plane of every sample.
    private static func convolve(padded xp: UnsafePointer<Float>, cin: Int, batch: Int, g: ConvGeometry,
                                 weights: FloatBuffer, cout: Int, bias: UnsafePointer<Float>?,
                                 prelu: UnsafePointer<Float>? = nil, y: UnsafeMutablePointer<Float>, isa: ISA) {
        let per = paddedCount(g, channels: cin), ys = cout * g.inSize
        let pp = UncheckedSendable(xp), py = UncheckedSendable(y), pb = UncheckedSendable(bias), pr = UncheckedSendable(prelu)
        let pw = UncheckedSendable(UnsafePointer(weights.pointer))
        let (d, h, w) = (g.inD, g.inH, g.inW), rowW = w + 2, plane = (h + 2) * rowW
        let offsets = (0..<27).map { t in (t / 9) * plane + ((t / 3) % 3) * rowW + t % 3 }
        let layout = ckernels_taps(phases: 1, cin: Int32(cin), phase_stride: 0, chan_stride: (d + 2) * plane,
                                   plane_stride: plane, pw: Int32(rowW), out_h: Int32(h), out_w: Int32(w), ntaps: nil,
                                   offsets: nil, y_chan: g.inSize, y_plane: h * w, y_row: w, y_col: 1)
        Compute.forEachTask(batch * d) { _, t in
            let n = t / d, od = t % d
            convTaps(layout, counts: [27], offsets: offsets[...], isa: isa, x: pp.value + n * per, packed: pw.value,
                     cout: cout, bias: pb.value, prelu: pr.value, y: py.value + n * ys, planes: od..<(od + 1))
        }
        withExtendedLifetime(weights) {}
    }

    /// `y[n] = w * x[n] + bias`, through PReLU with slope `prelu` when given: `w` is `cout x g.channels x 27`,
    /// `bias` `cout` values (or nil); `y` (`batch x cout x grid`) is overwritten.
    package static func forward(weights w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, prelu: UnsafePointer<Float>? = nil,
                                cout: Int, x: UnsafePointer<Float>, batch: Int, g: ConvGeometry,
                                y: UnsafeMutablePointer<Float>, isa: ISA) {
        forward(packed: .convolution(w, cout: cout, cin: g.channels), bias: bias, prelu: prelu, cout: cout, x: x,
                batch: batch, g: g, y: y, isa: isa)
    }

    /// ``forward(weights:bias:prelu:cout:x:batch:g:y:isa:)`` with weights packed already.
    package static func forward(packed: PackedWeights, bias: UnsafePointer<Float>?, prelu: UnsafePointer<Float>? = nil,
                                cout: Int, x: UnsafePointer<Float>, batch: Int, g: ConvGeometry,
                                y: UnsafeMutablePointer<Float>, isa: ISA) {
        precondition(packed.kind == .convolution, "DirectConv.forward: weights packed for \(packed.kind)")
        let cin = g.channels
        // a pooled buffer: a fresh one per call costs a page fault per 4 KiB (as much as a small layer's work)
        let xp = ScratchPool.take(batch * paddedCount(g, channels: cin))
        defer { ScratchPool.give(xp) }
        pad(x, channels: cin, batch: batch, g: g, into: xp.pointer)
        convolve(padded: xp.pointer, cin: cin, batch: batch, g: g, weights: packed.buffers[0], cout: cout, bias: bias,
                 prelu: prelu, y: y, isa: isa)
    }

    /// The input gradient `dx[n]` (`batch x g.channels x grid`, overwritten) of the convolution with
    /// weights `w` (`cout x g.channels x 27`) from its output gradient `dy` (`batch x cout x grid`):
    /// the convolution of `dy` with the flipped, transposed weights.
    package static func inputGradient(weights w: UnsafePointer<Float>, cout: Int,
                                      dy: UnsafePointer<Float>, batch: Int, g: ConvGeometry,
                                      dx: UnsafeMutablePointer<Float>, isa: ISA) {
        let dyp = FloatBuffer(count: batch * paddedCount(g, channels: cout))
        pad(dy, channels: cout, batch: batch, g: g, into: dyp.pointer)
        convolve(padded: dyp.pointer, cin: cout, batch: batch, g: g,
                 weights: packed(w, rows: g.channels, cols: cout, flipTranspose: true), cout: g.channels,
                 bias: nil, y: dx, isa: isa)
    }

    /// `dw (cout x g.channels x 27) += sum_n dy[n] * x[n]` at every tap: the weight gradient.
    package static func weightGradient(dy: UnsafePointer<Float>, cout: Int, x: UnsafePointer<Float>, batch: Int,
                                       g: ConvGeometry, dw: UnsafeMutablePointer<Float>, isa: ISA) {
        let cin = g.channels, (d, h, w) = (g.inD, g.inH, g.inW)
        let rowsPer = Int(ckernels_pad_rows_count(Int32(cout), Int32(d), Int32(h), Int32(w)))
        let xPer = paddedCount(g, channels: cin)
        let xp = FloatBuffer(count: batch * xPer), dyr = FloatBuffer(count: batch * rowsPer)
        pad(x, channels: cin, batch: batch, g: g, into: xp.pointer)
        let pdy = UncheckedSendable(dy), pr = UncheckedSendable(dyr.pointer), ys = cout * g.inSize
        Compute.forEachTask(batch * cout) { _, t in
            let n = t / cout, ch = t % cout
            ckernels_pad_rows(pdy.value + n * ys, Int32(cout), Int32(ch), Int32(ch + 1), Int32(d), Int32(h), Int32(w),
                              pr.value + n * rowsPer)
        }
        let tasks = batch * d, accCount = cout * cin * 27
        let workers = Compute.workers(tasks)
        let pxp = UncheckedSendable(UnsafePointer(xp.pointer)), prr = UncheckedSendable(UnsafePointer(dyr.pointer))
        ScratchPool.withBuffers(workers, count: accCount) { scratch in
            for s in scratch { s.pointer.update(repeating: 0, count: accCount) }
            // Each worker takes runs of planes (two at a time, to share the kernel's per-call set-up).
            let chunk = max(1, min(4, d / max(1, 2 * workers)))
            let perSample = (d + chunk - 1) / chunk
            Compute.forEachTask(batch * perSample, maxWorkers: workers) { wk, t in
                let n = t / perSample, d0 = (t % perSample) * chunk, d1 = min(d, d0 + chunk)
                ckernels_conv3_weight_grad(isa.c, prr.value + n * rowsPer, Int32(cout), pxp.value + n * xPer, Int32(cin),
                                           Int32(d), Int32(h), Int32(w), scratch[wk].pointer, Int32(d0), Int32(d1))
            }
            let pdw = UncheckedSendable(dw)
            Compute.forEachChunk(accCount, grain: 65_536) { range in
                for s in scratch {
                    let src = s.pointer
                    for i in range { pdw.value[i] += src[i] }
                }
            }
        }
        withExtendedLifetime((xp, dyr)) {}
    }
}

// Stride-2 and transposed 3x3x3 layers on the tap-list kernel (`ckernels_conv_taps`).
extension DirectConv {
    /// Weights packed for the direct kernels: a layer's weights in the order its kernel reads them. They
    /// do not depend on the input's size, so a layer may keep them while its weights do not change.
    package struct PackedWeights: @unchecked Sendable {  // FloatBuffers written once here, then only read.
        package enum Kind: Sendable { case convolution, strided, transposed }
        package let kind: Kind
        let buffers: [FloatBuffer]

        /// A 3x3x3 stride-1 convolution's weights (`cout x cin x 27`).
        package static func convolution(_ w: UnsafePointer<Float>, cout: Int, cin: Int) -> PackedWeights {
            PackedWeights(kind: .convolution, buffers: [DirectConv.packed(w, rows: cout, cols: cin, flipTranspose: false)])
        }

        /// A 3x3x3 stride-2 convolution's weights (`cout x cin x 27`), for the 8 phases of its input.
        package static func strided(_ w: UnsafePointer<Float>, cout: Int, cin: Int) -> PackedWeights {
            let table = DirectConv.tapTable(transposed: false, pp: 0, pw: 0)
            let b = FloatBuffer(count: blocks(cout) * cin * 27 * Int(CKERNELS_MR))
            ckernels_pack_taps(w, Int32(cout), Int32(cin), 0, 8, table.counts, table.kernel, b.pointer)
            return PackedWeights(kind: .strided, buffers: [b])
        }

        /// A 3x3x3 stride-2 transposed convolution's weights (`cin x cout x 27`), one block per output parity.
        package static func transposed(_ w: UnsafePointer<Float>, cin: Int, cout: Int) -> PackedWeights {
            let table = DirectConv.tapTable(transposed: true, pp: 0, pw: 0)
            var first = 0
            let buffers = (0..<8).map { ph -> FloatBuffer in
                let n = Int(table.counts[ph])
                let b = FloatBuffer(count: blocks(cout) * cin * n * Int(CKERNELS_MR))
                ckernels_pack_taps(w, Int32(cout), Int32(cin), 1, 1, [table.counts[ph]], Array(table.kernel[first..<(first + n)]), b.pointer)
                first += n
                return b
            }
            return PackedWeights(kind: .transposed, buffers: buffers)
        }

        private static func blocks(_ cout: Int) -> Int { (cout + Int(CKERNELS_MR) - 1) / Int(CKERNELS_MR) }
    }

    /// One convolution of a shared input: its packed weights (``PackedWeights/strided(_:cout:cin:)``), bias
    /// (or nil), PReLU slope (or nil: none) and output.
    package struct Output {
        package var packed: PackedWeights
        package var bias: UnsafePointer<Float>?
        package var prelu: UnsafePointer<Float>?
        package var y: UnsafeMutablePointer<Float>

        package init(packed: PackedWeights, bias: UnsafePointer<Float>?, prelu: UnsafePointer<Float>? = nil,
                     y: UnsafeMutablePointer<Float>) {
            precondition(packed.kind == .strided, "DirectConv.Output: weights packed for \(packed.kind)")
            self.packed = packed; self.bias = bias; self.prelu = prelu; self.y = y
        }
    }

    /// Whether the layers run the stride-2 convolution `g` on the tap kernels: 3x3x3, padding 1, even input extents.
    package static func handlesStrided(_ g: ConvGeometry) -> Bool {
        selected != nil && g.kernel == 3 && g.stride == 2 && g.pad == 1
            && [g.inD, g.inH, g.inW].allSatisfy { $0 % 2 == 0 }
            && g.outD * 2 == g.inD && g.outH * 2 == g.inH && g.outW * 2 == g.inW
    }

    /// Whether the layers run a stride-`stride` transposed 3x3x3 convolution with `cout` outputs on the tap kernels:
    /// stride 2 and at least 4 outputs (the kernel's 4-channel blocks; for the U-Net's 32 -> 3 top layer im2col +
    /// sgemm measured 40% faster).
    package static func handlesTransposed(stride: Int, cout: Int) -> Bool {
        selected != nil && stride == 2 && cout >= Int(CKERNELS_MR)
    }

    /// Per axis, the taps of phase (strided input) or parity (transposed output) `a`: offset in the padded grid and
    /// kernel index. Stride 2, padding 1: input `2o - 1 + k` is phase 1 at `o - 1` (k 0), phase 0 at `o` (k 1),
    /// phase 1 at `o` (k 2), each phase padded by one at its low side. Transposed: output `2m` takes input `m`
    /// (k 1), output `2m + 1` inputs `m` (k 2) and `m + 1` (k 0), the input padded by one on both sides.
    private static func axisTaps(transposed: Bool, _ a: Int) -> [(delta: Int, k: Int)] {
        if transposed { return a == 0 ? [(1, 1)] : [(1, 2), (2, 0)] }
        return a == 0 ? [(1, 1)] : [(0, 0), (1, 2)]
    }

    /// The taps of the 8 phases `(a, b, e)` (index `4a + 2b + e`): counts, offsets in a padded grid with planes of
    /// `pp` floats and rows of `pw`, and their kernel indices `kd * 9 + kh * 3 + kw`.
    private static func tapTable(transposed: Bool, pp: Int, pw: Int) -> (counts: [Int32], offsets: [Int], kernel: [Int32]) {
        var counts = [Int32](), offsets = [Int](), kernel = [Int32]()
        for ph in 0..<8 {
            let before = offsets.count
            for (dd, kd) in axisTaps(transposed: transposed, ph >> 2) {
                for (dh, kh) in axisTaps(transposed: transposed, (ph >> 1) & 1) {
                    for (dw, kw) in axisTaps(transposed: transposed, ph & 1) {
                        offsets.append(dd * pp + dh * pw + dw); kernel.append(Int32(kd * 9 + kh * 3 + kw))
                    }
                }
            }
            counts.append(Int32(offsets.count - before))
        }
        return (counts, offsets, kernel)
    }

    /// Runs `ckernels_conv_taps` with the layout `k` (its tap arrays filled from `counts` and `offsets`).
    private static func convTaps(_ k: ckernels_taps, counts: ArraySlice<Int32>, offsets: ArraySlice<Int>, isa: ISA,
                                 x: UnsafePointer<Float>, packed: UnsafePointer<Float>, cout: Int, bias: UnsafePointer<Float>?,
                                 prelu: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, planes: Range<Int>) {
        var k = k
        counts.withUnsafeBufferPointer { c in offsets.withUnsafeBufferPointer { o in
            k.ntaps = c.baseAddress; k.offsets = o.baseAddress
            ckernels_conv_taps(isa.c, &k, x, packed, Int32(cout), bias, prelu, y, Int32(planes.lowerBound), Int32(planes.upperBound))
        } }
    }

    /// Stride-2 3x3x3 pad-1 convolutions of one input (``handlesStrided(_:)``), each with `cout x g.channels x 27`
    /// weights (packed): the input's 8 phases are split once and every output of `outputs` (`batch x cout x out grid`,
    /// overwritten) is computed from them.
    package static func stridedForward(_ outputs: [Output], cout: Int, x: UnsafePointer<Float>, batch: Int,
                                       g: ConvGeometry, isa: ISA) {
        let cin = g.channels, (od, oh, ow) = (g.outD, g.outH, g.outW)
        let pw = ow + 1, pp = (oh + 1) * pw, ps = (od + 1) * pp
        let per = cin * 8 * ps + Int(CKERNELS_SLACK)
        let xp = ScratchPool.take(batch * per)  // every element is written below
        defer { ScratchPool.give(xp) }
        let px = UncheckedSendable(x), pxp = UncheckedSendable(xp.pointer), xs = cin * g.inSize
        Compute.forEachTask(batch * cin) { _, t in
            let n = t / cin, ch = t % cin
            ckernels_pack_phases(px.value + n * xs, Int32(cin), Int32(ch), Int32(ch + 1),
                                 Int32(g.inD), Int32(g.inH), Int32(g.inW), pxp.value + n * per)
        }
        let table = tapTable(transposed: false, pp: pp, pw: pw)
        let packs = outputs.map { $0.packed.buffers[0] }
        let layout = ckernels_taps(phases: 8, cin: Int32(cin), phase_stride: ps, chan_stride: 8 * ps, plane_stride: pp,
                                   pw: Int32(pw), out_h: Int32(oh), out_w: Int32(ow), ntaps: nil, offsets: nil,
                                   y_chan: od * oh * ow, y_plane: oh * ow, y_row: ow, y_col: 1)
        let outs = UncheckedSendable(outputs), pk = UncheckedSendable(packs.map { UnsafePointer($0.pointer) })
        let ys = cout * g.outSize
        Compute.forEachTask(outputs.count * batch * od) { _, t in
            let o = t / (batch * od), n = (t / od) % batch, plane = t % od
            let out = outs.value[o]
            convTaps(layout, counts: table.counts[...], offsets: table.offsets[...], isa: isa, x: pxp.value + n * per,
                     packed: pk.value[o], cout: cout, bias: out.bias, prelu: out.prelu, y: out.y + n * ys,
                     planes: plane..<(plane + 1))
        }
        withExtendedLifetime((xp, packs)) {}
    }

    /// The stride-2 3x3x3 transposed convolution (padding 1, output padding 1) of `x` (`batch x cin x d x h x w`)
    /// with weights `cin x cout x 27` (PyTorch order; packed by ``PackedWeights/transposed(_:cin:cout:)``) plus `bias`, through PReLU with slope `prelu` when given:
    /// `y` (`batch x cout x 2d x 2h x 2w`) is overwritten. One stride-1 convolution per output parity, interleaved.
    package static func transposedForward(packed: PackedWeights, bias: UnsafePointer<Float>?,
                                          prelu: UnsafePointer<Float>? = nil, cin: Int, cout: Int,
                                          x: UnsafePointer<Float>, batch: Int, size: (d: Int, h: Int, w: Int),
                                          y: UnsafeMutablePointer<Float>, isa: ISA) {
        let (d, h, wd) = size
        let g = ConvGeometry(channels: cin, input: (d, h, wd), kernel: 3, stride: 1, pad: 1)
        let per = paddedCount(g, channels: cin)
        let xp = ScratchPool.take(batch * per)  // every element is written by pad
        defer { ScratchPool.give(xp) }
        pad(x, channels: cin, batch: batch, g: g, into: xp.pointer)
        let pw = wd + 2, pp = (h + 2) * pw
        precondition(packed.kind == .transposed, "DirectConv.transposedForward: weights packed for \(packed.kind)")
        let table = tapTable(transposed: true, pp: pp, pw: pw), packs = packed.buffers
        let pxp = UncheckedSendable(UnsafePointer(xp.pointer)), py = UncheckedSendable(y)
        let pk = UncheckedSendable(packs.map { Optional(UnsafePointer($0.pointer)) })
        let pb = UncheckedSendable(bias), pr = UncheckedSendable(prelu), vol = 8 * d * h * wd
        let workers = Compute.workers(batch * d)
        ScratchPool.withBuffers(workers, count: 2 * cout * h * wd) { scratch in
            Compute.forEachTask(batch * d, maxWorkers: workers) { worker, t in
                let n = t / d, plane = t % d
                table.counts.withUnsafeBufferPointer { c in table.offsets.withUnsafeBufferPointer { o in pk.value.withUnsafeBufferPointer { p in
                    ckernels_conv_transposed_plane(isa.c, pxp.value + n * per, Int32(cin), Int32(d), Int32(h), Int32(wd),
                                                   p.baseAddress, c.baseAddress, o.baseAddress, Int32(cout), pb.value, pr.value,
                                                   scratch[worker].pointer, py.value + n * cout * vol, Int32(plane))
                } } }
            }
        }
        withExtendedLifetime((xp, packs)) {}
    }
}
