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

        var c: ckernels_isa { self == .avx2 ? CKERNELS_ISA_AVX2 : CKERNELS_ISA_PLAIN }
    }

    /// The fastest instruction set of this CPU.
    package static let bestISA: ISA = ckernels_best_isa() == CKERNELS_ISA_AVX2 ? .avx2 : .plain

    /// What the layers use: ``bestISA`` unless `SEGVIZ_KERNELS=plain`; nil (im2col + sgemm) when
    /// `SEGVIZ_KERNELS=blas`.
    package static let selected: ISA? = {
        switch ProcessInfo.processInfo.environment["SEGVIZ_KERNELS"] {
        case "blas": return nil
        case "plain": return .plain
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

    /// Runs the forward kernel over every output plane of every sample.
    private static func convolve(padded xp: UnsafePointer<Float>, cin: Int, batch: Int, g: ConvGeometry,
                                 weights: FloatBuffer, cout: Int, bias: UnsafePointer<Float>?,
                                 y: UnsafeMutablePointer<Float>, isa: ISA) {
        let per = paddedCount(g, channels: cin), ys = cout * g.inSize
        let pp = UncheckedSendable(xp), py = UncheckedSendable(y), pb = UncheckedSendable(bias)
        let pw = UncheckedSendable(UnsafePointer(weights.pointer))
        let d = g.inD
        Compute.forEachTask(batch * d) { _, t in
            let n = t / d, od = t % d
            ckernels_conv3_forward(isa.c, pp.value + n * per, Int32(cin), Int32(g.inD), Int32(g.inH), Int32(g.inW),
                                   pw.value, Int32(cout), pb.value, py.value + n * ys, Int32(od), Int32(od + 1))
        }
        withExtendedLifetime(weights) {}
    }

    /// `y[n] = w * x[n] + bias`: `w` is `cout x g.channels x 27`, `bias` `cout` values (or nil);
    /// `y` (`batch x cout x grid`) is overwritten.
    package static func forward(weights w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, cout: Int,
                                x: UnsafePointer<Float>, batch: Int, g: ConvGeometry,
                                y: UnsafeMutablePointer<Float>, isa: ISA) {
        let cin = g.channels
        let xp = FloatBuffer(count: batch * paddedCount(g, channels: cin))
        pad(x, channels: cin, batch: batch, g: g, into: xp.pointer)
        convolve(padded: xp.pointer, cin: cin, batch: batch, g: g,
                 weights: packed(w, rows: cout, cols: cin, flipTranspose: false), cout: cout, bias: bias, y: y, isa: isa)
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
