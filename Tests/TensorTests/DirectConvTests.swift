import Testing
@testable import Tensor

/// The direct 3x3x3 kernels (portable and AVX2 paths) against the direct loops of
/// ``ConvKernelTests`` (forward) and the adjoint identities (gradients).
@Suite struct DirectConvTests {
    typealias Rng = ConvKernelTests.Rng

    /// The instruction sets this CPU runs: always the portable path, AVX2 when present.
    static let isas: [DirectConv.ISA] = DirectConv.supportedISAs

    /// Odd extents (rows that end mid-tile, planes narrower than a 24-position tile; 20 x 22 planes of 478
    /// positions for the AVX-512 forward, where the CPU has it), channel
    /// counts that are not multiples of the 4-row weight blocks, batch 2, one and two workers.
    @Test(arguments: [(1, 3, 5, 5, 7, 6), (2, 5, 3, 7, 5, 30), (2, 4, 8, 12, 13, 14), (2, 5, 6, 3, 20, 22)])
    func matchesLoopsAndAdjoints(_ c: (Int, Int, Int, Int, Int, Int)) {
        let (threads, cin, cout, d, h, w) = c
        let saved = Compute.threads
        Compute.threads = threads
        defer { Compute.threads = saved }
        let g = ConvGeometry(channels: cin, input: (d, h, w), kernel: 3, stride: 1, pad: 1)
        let batch = 2
        var r = Rng(s: 7)
        let x = (0..<(batch * cin * g.inSize)).map { _ in r.next() }
        let wt = (0..<(cout * g.rows)).map { _ in r.next() }
        let bias = (0..<cout).map { _ in r.next() }
        let dy = (0..<(batch * cout * g.outSize)).map { _ in r.next() }
        var ref = ConvKernelTests.direct(x, wt, m: cout, batch: batch, g: g)
        for i in ref.indices { ref[i] += bias[(i / g.outSize) % cout] }
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let lhs = dot(dy, ConvKernelTests.direct(x, wt, m: cout, batch: batch, g: g))
        var results: [[Float]] = []
        for isa in Self.isas {
            var y = [Float](repeating: .nan, count: ref.count)
            var dx = [Float](repeating: .nan, count: x.count), dw = [Float](repeating: 0, count: wt.count)
            x.withUnsafeBufferPointer { px in wt.withUnsafeBufferPointer { pw in dy.withUnsafeBufferPointer { pd in
                bias.withUnsafeBufferPointer { pb in y.withUnsafeMutableBufferPointer { py in
                    DirectConv.forward(weights: pw.baseAddress!, bias: pb.baseAddress!, cout: cout, x: px.baseAddress!,
                                       batch: batch, g: g, y: py.baseAddress!, isa: isa)
                } }
                dx.withUnsafeMutableBufferPointer { pdx in
                    DirectConv.inputGradient(weights: pw.baseAddress!, cout: cout, dy: pd.baseAddress!, batch: batch,
                                             g: g, dx: pdx.baseAddress!, isa: isa)
                }
                dw.withUnsafeMutableBufferPointer { pdw in
                    DirectConv.weightGradient(dy: pd.baseAddress!, cout: cout, x: px.baseAddress!, batch: batch,
                                              g: g, dw: pdw.baseAddress!, isa: isa)
                }
            } } }
            #expect(zip(y, ref).allSatisfy { abs($0 - $1) < 1e-4 }, "forward, \(isa)")
            #expect(abs(lhs - dot(dx, x)) < 1e-4 * max(1, abs(lhs)), "input gradient, \(isa)")
            #expect(abs(lhs - dot(dw, wt)) < 1e-4 * max(1, abs(lhs)), "weight gradient, \(isa)")
            results.append(y + dx + dw)
        }
        // Every fast path matches the portable one element by element within a fixed tolerance.
        for other in results.dropFirst() {
            #expect(zip(results[0], other).allSatisfy { abs($0 - $1) < 1e-4 })
        }
    }

    /// Only 3x3x3 stride-1 convolutions with planes of at least 12 x 12 go to the direct kernels.
    @Test func handlesOnlyItsGeometry() {
        #expect(DirectConv.handles(ConvGeometry(channels: 16, input: (48, 48, 48), kernel: 3, stride: 1, pad: 1)) == (DirectConv.selected != nil))
        #expect(!DirectConv.handles(ConvGeometry(channels: 16, input: (48, 48, 48), kernel: 3, stride: 2, pad: 1)))
        #expect(!DirectConv.handles(ConvGeometry(channels: 16, input: (6, 6, 6), kernel: 3, stride: 1, pad: 1)))
        #expect(!DirectConv.handles(ConvGeometry(channels: 16, input: (48, 48, 48), kernel: 1, stride: 1, pad: 0)))
    }
}
