/// Gather (im2col) and scatter-add (col2im) between a channel-major grid and a column matrix.
///
/// Column matrix layout: row `(c * kernel + kd) * kernel^2 + kh * kernel + kw` (channel-major, then
/// taps), column `(row - r0) * outW + ow` for output rows `r0..<r1` (row `= od * outH + oh`).
extension ConvGeometry {
    /// Calls `body(colOffset, inputOffset, cols)` for every (channel, tap, output row) in column
    /// matrix order: `colOffset` is where the run of `outW` columns starts in the column matrix,
    /// `inputOffset` the input element of column 0 (nil when the row lies in the padding), and
    /// `cols` the columns whose input element `inputOffset + ow * stride` is inside the grid.
    @inline(__always)
    func forEachRun(rows r0: Int, _ r1: Int, _ body: (Int, Int?, Range<Int>) -> Void) {
        let k = kernel, s = stride
        var at = 0
        for c in 0..<channels {
            let xc = c * inSize
            for kd in 0..<k {
                for kh in 0..<k {
                    for kw in 0..<k {
                        let cols = validColumns(tap: kw)
                        let shift = kw - pad
                        var od = r0 / outH, oh = r0 - od * outH
                        for _ in r0..<r1 {
                            let id = od * s - pad + kd, ih = oh * s - pad + kh
                            let inside = id >= 0 && id < inD && ih >= 0 && ih < inH && !cols.isEmpty
                            body(at, inside ? xc + (id * inH + ih) * inW + shift : nil, cols)
                            at += outW
                            oh += 1
                            if oh == outH { oh = 0; od += 1 }
                        }
                    }
                }
            }
        }
    }

    /// Fills `col` (`rows x ((r1 - r0) * outW)`) from one sample's input `x` (`channels x inSize`).
    package func im2col(_ x: UnsafePointer<Float>, rows r0: Int, _ r1: Int,
                        into col: UnsafeMutablePointer<Float>) {
        let s = stride, w = outW
        forEachRun(rows: r0, r1) { at, offset, cols in
            let dst = col + at
            guard let offset else { dst.update(repeating: 0, count: w); return }
            let src = x + offset
            if cols.lowerBound > 0 { dst.update(repeating: 0, count: cols.lowerBound) }
            if s == 1 {
                (dst + cols.lowerBound).update(from: src + cols.lowerBound, count: cols.count)
            } else {
                for ow in cols { dst[ow] = src[ow * s] }
            }
            if cols.upperBound < w { (dst + cols.upperBound).update(repeating: 0, count: w - cols.upperBound) }
        }
    }

    /// Adds the column matrix `col` (layout as in ``im2col(_:rows:_:into:)``) onto one sample's
    /// input-grid tensor `x`, dropping taps that fall in the padding.
    package func col2imAdd(_ col: UnsafePointer<Float>, rows r0: Int, _ r1: Int,
                           into x: UnsafeMutablePointer<Float>) {
        let s = stride
        forEachRun(rows: r0, r1) { at, offset, cols in
            guard let offset else { return }
            let src = col + at, dst = x + offset
            if s == 1 {
                for ow in cols { dst[ow] += src[ow] }
            } else {
                for ow in cols { dst[ow * s] += src[ow] }
            }
        }
    }
}
