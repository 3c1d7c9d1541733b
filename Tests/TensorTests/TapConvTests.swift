import Testing
@testable import Tensor

/// The tap-list kernels (stride-2 and transposed 3x3x3 layers), portable and AVX2 paths, against naive
/// loops: ``ConvKernelTests/direct(_:_:m:batch:g:)`` for the strided convolution and a scatter loop
/// (every input voxel times every tap added at `2i - 1 + k`) for the transposed one.
@Suite struct TapConvTests {
    typealias Rng = ConvKernelTests.Rng
    static let isas = DirectConvTests.isas
    /// Fixed tolerance against the naive loops and between the two paths.
    static let tolerance: Float = 1e-4

    static func prelu(_ v: Float, _ a: Float) -> Float { v > 0 ? v : a * v }

    /// A transposed 3x3x3 stride-2 convolution (padding 1, output padding 1), PyTorch weights `cin x cout x 27`.
    static func naiveTransposed(_ x: [Float], _ w: [Float], bias: [Float], cin: Int, cout: Int, batch: Int,
                                d: Int, h: Int, wd: Int) -> [Float] {
        let (od, oh, ow) = (2 * d, 2 * h, 2 * wd)
        var y = [Float](repeating: 0, count: batch * cout * od * oh * ow)
        for n in 0..<batch { for co in 0..<cout { for i in 0..<(od * oh * ow) { y[(n * cout + co) * od * oh * ow + i] = bias[co] } } }
        for n in 0..<batch { for ci in 0..<cin { for z in 0..<d { for yy in 0..<h { for xx in 0..<wd {
            let v = x[(((n * cin + ci) * d + z) * h + yy) * wd + xx]
            for co in 0..<cout { for kd in 0..<3 { for kh in 0..<3 { for kw in 0..<3 {
                let (a, b, c) = (2 * z - 1 + kd, 2 * yy - 1 + kh, 2 * xx - 1 + kw)
                guard a >= 0, a < od, b >= 0, b < oh, c >= 0, c < ow else { continue }
                y[(((n * cout + co) * od + a) * oh + b) * ow + c] += v * w[(ci * cout + co) * 27 + kd * 9 + kh * 3 + kw]
            } } } }
        } } } } }
        return y
    }

    /// Extents with rows that fill a 24-position tile (out_w 25) and ones narrower than it, and output planes of
    /// 20 x 20 (419 positions: the AVX-512 kernel's 48-position tiles, where the CPU has it); channel counts
    /// that are not multiples of the 4-row weight blocks; batch 2; one and two workers. Two convolutions
    /// share the split input, the second through PReLU.
    @Test(arguments: [(1, 3, 5, 4, 6, 8), (2, 2, 6, 2, 4, 50), (2, 5, 3, 6, 2, 10), (2, 3, 5, 2, 40, 40)])
    func stridedMatchesNaiveLoops(_ c: (Int, Int, Int, Int, Int, Int)) {
        let (threads, cin, cout, d, h, w) = c
        let g = ConvGeometry(channels: cin, input: (d, h, w), kernel: 3, stride: 2, pad: 1)
        #expect(DirectConv.handlesStrided(g) == (DirectConv.selected != nil))
        let batch = 2
        var r = Rng(s: 11)
        let x = (0..<(batch * cin * g.inSize)).map { _ in r.next() }
        let w0 = (0..<(cout * g.rows)).map { _ in r.next() }, w1 = (0..<(cout * g.rows)).map { _ in r.next() }
        let b0 = (0..<cout).map { _ in r.next() }, b1 = (0..<cout).map { _ in r.next() }
        let slope: [Float] = [0.25]
        var ref0 = ConvKernelTests.direct(x, w0, m: cout, batch: batch, g: g)
        var ref1 = ConvKernelTests.direct(x, w1, m: cout, batch: batch, g: g)
        for i in ref0.indices {
            ref0[i] += b0[(i / g.outSize) % cout]
            ref1[i] = Self.prelu(ref1[i] + b1[(i / g.outSize) % cout], slope[0])
        }
        var results: [[Float]] = []
        Compute.withThreads(threads) {
            for isa in Self.isas {
                var y0 = [Float](repeating: .nan, count: ref0.count), y1 = y0
                x.withUnsafeBufferPointer { px in w0.withUnsafeBufferPointer { pw0 in w1.withUnsafeBufferPointer { pw1 in
                    b0.withUnsafeBufferPointer { pb0 in b1.withUnsafeBufferPointer { pb1 in slope.withUnsafeBufferPointer { ps in
                        y0.withUnsafeMutableBufferPointer { py0 in y1.withUnsafeMutableBufferPointer { py1 in
                            DirectConv.stridedForward([
                                .init(packed: .strided(pw0.baseAddress!, cout: cout, cin: cin), bias: pb0.baseAddress!, y: py0.baseAddress!),
                                .init(packed: .strided(pw1.baseAddress!, cout: cout, cin: cin), bias: pb1.baseAddress!,
                                      prelu: ps.baseAddress!, y: py1.baseAddress!),
                            ], cout: cout, x: px.baseAddress!, batch: batch, g: g, isa: isa)
                        } }
                    } } }
                } } }
                #expect(zip(y0, ref0).allSatisfy { abs($0 - $1) < Self.tolerance }, "strided, \(isa)")
                #expect(zip(y1, ref1).allSatisfy { abs($0 - $1) < Self.tolerance }, "strided with PReLU, \(isa)")
                results.append(y0 + y1)
            }
        }
        for other in results.dropFirst() { #expect(zip(results[0], other).allSatisfy { abs($0 - $1) < Self.tolerance }) }
    }

    /// Odd extents, rows longer and shorter than a tile, channels not multiples of 4, batch 2, with and
    /// without PReLU; 20 x 20 input planes reach the AVX-512 kernel where the CPU has it.
    @Test(arguments: [(1, 3, 5, 3, 5, 13, false), (2, 5, 3, 2, 3, 26, true), (2, 4, 8, 1, 1, 1, true), (1, 5, 6, 2, 20, 20, true)])
    func transposedMatchesNaiveLoops(_ c: (Int, Int, Int, Int, Int, Int, Bool)) {
        let (threads, cin, cout, d, h, w, withPReLU) = c
        let batch = 2
        var r = Rng(s: 5)
        let x = (0..<(batch * cin * d * h * w)).map { _ in r.next() }
        let wt = (0..<(cin * cout * 27)).map { _ in r.next() }
        let bias = (0..<cout).map { _ in r.next() }
        let slope: [Float] = [0.1]
        var ref = Self.naiveTransposed(x, wt, bias: bias, cin: cin, cout: cout, batch: batch, d: d, h: h, wd: w)
        if withPReLU { ref = ref.map { Self.prelu($0, slope[0]) } }
        var results: [[Float]] = []
        Compute.withThreads(threads) {
            for isa in Self.isas {
                var y = [Float](repeating: .nan, count: ref.count)
                x.withUnsafeBufferPointer { px in wt.withUnsafeBufferPointer { pw in bias.withUnsafeBufferPointer { pb in
                    slope.withUnsafeBufferPointer { ps in y.withUnsafeMutableBufferPointer { py in
                        DirectConv.transposedForward(packed: .transposed(pw.baseAddress!, cin: cin, cout: cout), bias: pb.baseAddress!,
                                                     prelu: withPReLU ? ps.baseAddress! : nil, cin: cin, cout: cout,
                                                     x: px.baseAddress!, batch: batch, size: (d, h, w), y: py.baseAddress!, isa: isa)
                    } }
                } } }
                #expect(zip(y, ref).allSatisfy { abs($0 - $1) < Self.tolerance }, "transposed, \(isa)")
                results.append(y)
            }
        }
        for other in results.dropFirst() { #expect(zip(results[0], other).allSatisfy { abs($0 - $1) < Self.tolerance }) }
    }
}
