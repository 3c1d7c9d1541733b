/// How a 3-D convolution maps a grid of input voxels to a grid of output positions:
/// input index `= output * stride - pad + tap` in each of depth, height, width.
///
/// The same geometry serves the gather (im2col: read the input grid at the taps of each output
/// position) and the scatter (col2im: add per-tap values back onto the input grid), so a
/// convolution, its transposed convolution and both of their gradients share it.
package struct ConvGeometry: Sendable, Equatable {
    /// Channels of the input grid.
    package var channels: Int
    /// Input grid extents (D, H, W).
    package var inD: Int, inH: Int, inW: Int
    /// Output grid extents (D, H, W).
    package var outD: Int, outH: Int, outW: Int
    /// Cubic kernel extent (1 or 3 here), stride and zero padding.
    package var kernel: Int, stride: Int, pad: Int

    /// The geometry of a convolution with output extents `(in + 2 pad - kernel) / stride + 1`.
    package init(channels: Int, input: (Int, Int, Int), kernel: Int, stride: Int, pad: Int) {
        self.init(channels: channels, input: input,
                  output: ((input.0 + 2 * pad - kernel) / stride + 1,
                           (input.1 + 2 * pad - kernel) / stride + 1,
                           (input.2 + 2 * pad - kernel) / stride + 1),
                  kernel: kernel, stride: stride, pad: pad)
    }

    /// A geometry with explicit output extents (used for transposed convolutions, whose output
    /// is the larger grid).
    package init(channels: Int, input: (Int, Int, Int), output: (Int, Int, Int),
                 kernel: Int, stride: Int, pad: Int) {
        precondition(kernel >= 1 && stride >= 1 && pad >= 0 && channels >= 1,
                     "ConvGeometry: kernel \(kernel), stride \(stride), pad \(pad), channels \(channels)")
        precondition(output.0 >= 1 && output.1 >= 1 && output.2 >= 1,
                     "ConvGeometry: input \(input) gives empty output \(output)")
        self.channels = channels
        (inD, inH, inW) = input
        (outD, outH, outW) = output
        self.kernel = kernel; self.stride = stride; self.pad = pad
    }

    /// Taps per channel (`kernel^3`).
    package var taps: Int { kernel * kernel * kernel }
    /// Rows of the column matrix: `channels * taps`.
    package var rows: Int { channels * taps }
    /// Voxels of one channel of the input grid.
    package var inSize: Int { inD * inH * inW }
    /// Positions of one channel of the output grid.
    package var outSize: Int { outD * outH * outW }
    /// Output rows, one per `(d, h)` pair.
    package var outRows: Int { outD * outH }
    /// True when the column matrix is the input itself (1x1x1, stride 1, no padding).
    package var isPointwise: Bool { kernel == 1 && stride == 1 && pad == 0 && inD == outD && inH == outH && inW == outW }

    /// The range of output columns `ow` whose input column `ow * stride - pad + tap` lies inside the grid.
    @inline(__always)
    func validColumns(tap: Int) -> Range<Int> {
        // ow*s >= pad - tap  and  ow*s <= inW - 1 + pad - tap
        let lo = max(0, ceilDiv(pad - tap, stride))
        let hiIncl = floorDiv(inW - 1 + pad - tap, stride)
        let hi = min(outW, hiIncl + 1)
        return lo < hi ? lo..<hi : 0..<0
    }

    /// Output rows per tile so that a tile's column matrix is about `targetFloats` and at least
    /// `minPositions` positions, with at least `minTiles` tiles over `batch` samples when possible.
    package func rowsPerTile(targetFloats: Int = 131_072, minPositions: Int = 256,
                             batch: Int, minTiles: Int) -> Int {
        var r = max(1, targetFloats / max(1, rows * outW))
        r = max(r, (minPositions + outW - 1) / outW)
        r = min(r, outRows)
        let perSample = max(1, (minTiles + batch - 1) / batch)
        if (outRows + r - 1) / r < perSample { r = max(1, outRows / perSample) }
        return r
    }
}

@inline(__always) func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
@inline(__always) func ceilDiv(_ a: Int, _ b: Int) -> Int { -floorDiv(-a, b) }
