import Testing
@testable import Tensor

/// The tiled sgemm convolution kernels against direct loops.
@Suite struct ConvKernelTests {
    struct Rng { var s: UInt64; mutating func next() -> Float { s = s &* 6364136223846793005 &+ 1442695040888963407; return Float(s >> 40) / Float(1 << 24) - 0.5 } }

    /// Direct convolution: y[n, m, o] = sum_{c, taps} w[m, c, taps] x[n, c, o * s - p + tap].
    static func direct(_ x: [Float], _ w: [Float], m: Int, batch: Int, g: ConvGeometry) -> [Float] {
        var y = [Float](repeating: 0, count: batch * m * g.outSize)
        let k = g.kernel
        for n in 0..<batch { for o in 0..<m { for od in 0..<g.outD { for oh in 0..<g.outH { for ow in 0..<g.outW {
            var acc: Float = 0
            for c in 0..<g.channels { for kd in 0..<k { for kh in 0..<k { for kw in 0..<k {
                let id = od * g.stride - g.pad + kd, ih = oh * g.stride - g.pad + kh, iw = ow * g.stride - g.pad + kw
                guard id >= 0, id < g.inD, ih >= 0, ih < g.inH, iw >= 0, iw < g.inW else { continue }
                acc += w[((o * g.channels + c) * k + kd) * k * k + kh * k + kw]
                    * x[((n * g.channels + c) * g.inD + id) * g.inH * g.inW + ih * g.inW + iw]
            } } } }
            y[(((n * m + o) * g.outD + od) * g.outH + oh) * g.outW + ow] = acc
        } } } } }
        return y
    }

    /// Odd small extents, and rows wide enough (37) for the vectorised stride-1 and stride-2 runs.
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (1, 1, 0)], [(1, 7, 5, 6), (2, 7, 5, 6), (2, 5, 4, 37)])
    func gatherScatterAndWeightGradient(conv: (Int, Int, Int), threadsAndInput: (Int, Int, Int, Int)) {
        let (k, s, p) = conv
        let (threads, d, h, wd) = threadsAndInput
        let saved = Compute.threads
        Compute.threads = threads
        defer { Compute.threads = saved }
        let g = ConvGeometry(channels: 3, input: (d, h, wd), kernel: k, stride: s, pad: p)
        let m = 4, batch = 2
        var r = Rng(s: 42)
        let x = (0..<(batch * 3 * g.inSize)).map { _ in r.next() }
        let w = (0..<(m * g.rows)).map { _ in r.next() }
        let dy = (0..<(batch * m * g.outSize)).map { _ in r.next() }
        // Forward.
        var y = [Float](repeating: 0, count: batch * m * g.outSize)
        x.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { pw in y.withUnsafeMutableBufferPointer { py in
            ConvKernels.gatherProduct(a: pw.baseAddress!, m: m, x: px.baseAddress!, batch: batch, g: g, y: py.baseAddress!)
        } } }
        let ref = Self.direct(x, w, m: m, batch: batch, g: g)
        #expect(zip(y, ref).allSatisfy { abs($0 - $1) < 1e-5 })
        // Adjoint identities: <dy, conv(x)> = <scatter(dy), x> and = <dW, w>.
        var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count)
        dy.withUnsafeBufferPointer { pd in w.withUnsafeBufferPointer { pw in x.withUnsafeBufferPointer { px in
            dx.withUnsafeMutableBufferPointer { pdx in
                ConvKernels.scatterProduct(a: pw.baseAddress!, r: m, y: pd.baseAddress!, batch: batch, g: g, x: pdx.baseAddress!)
            }
            dw.withUnsafeMutableBufferPointer { pdw in
                ConvKernels.gatherWeightGradient(d: pd.baseAddress!, m: m, x: px.baseAddress!, batch: batch, g: g, dA: pdw.baseAddress!)
            }
        } } }
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let lhs = dot(dy, ref)
        #expect(abs(lhs - dot(dx, x)) < 1e-4 * max(1, abs(lhs)))
        #expect(abs(lhs - dot(dw, w)) < 1e-4 * max(1, abs(lhs)))
    }
}
