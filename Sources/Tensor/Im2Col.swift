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
            // Edges in the padding are a few elements: plain stores beat memset calls.
            for ow in 0..<cols.lowerBound { dst[ow] = 0 }
            if s == 1 {
                (dst + cols.lowerBound).update(from: src + cols.lowerBound, count: cols.count)
            } else if s == 2 {
                gatherEven(src, dst, cols)
            } else {
                for ow in cols { dst[ow] = src[ow * s] }
            }
            for ow in cols.upperBound..<w { dst[ow] = 0 }
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
                addRun(src, dst, cols)
            } else if s == 2 {
                scatterAddEven(src, dst, cols)
            } else {
                for ow in cols { dst[ow * s] += src[ow] }
            }
        }
    }
}

// Inner loops of im2col / col2im in 8-lane vectors (the compiler does not vectorise the
// strided ones on its own). Vector accesses stay inside the run `cols` of the current row:
// nothing outside it is read or written, so neighbouring rows of other workers are untouched.

private typealias V8 = SIMD8<Float>
private typealias V16 = SIMD16<Float>

/// `dst[ow] += src[ow]` for `ow` in `cols`.
@inline(__always)
private func addRun(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ cols: Range<Int>) {
    var ow = cols.lowerBound
    while ow + 8 <= cols.upperBound {
        let d = UnsafeMutableRawPointer(dst + ow)
        d.storeBytes(of: d.loadUnaligned(as: V8.self) + UnsafeRawPointer(src + ow).loadUnaligned(as: V8.self), as: V8.self)
        ow += 8
    }
    while ow < cols.upperBound { dst[ow] += src[ow]; ow += 1 }
}

/// `dst[ow] = src[2 ow]` for `ow` in `cols` (16 source floats per 8 outputs; the last source
/// float read is `src[2 (ow + 7) + 1]`, so vectors run only while `ow + 8 < cols.upperBound`).
@inline(__always)
private func gatherEven(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ cols: Range<Int>) {
    var ow = cols.lowerBound
    while ow + 8 < cols.upperBound {
        let v = UnsafeRawPointer(src + 2 * ow).loadUnaligned(as: V16.self)
        UnsafeMutableRawPointer(dst + ow).storeBytes(of: v.evenHalf, as: V8.self)
        ow += 8
    }
    while ow < cols.upperBound { dst[ow] = src[2 * ow]; ow += 1 }
}

/// `dst[2 ow] += src[ow]` for `ow` in `cols` (odd lanes are rewritten unchanged, all inside the run).
@inline(__always)
private func scatterAddEven(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ cols: Range<Int>) {
    var ow = cols.lowerBound
    while ow + 8 < cols.upperBound {
        let d = UnsafeMutableRawPointer(dst + 2 * ow)
        var v = d.loadUnaligned(as: V16.self)
        v.evenHalf += UnsafeRawPointer(src + ow).loadUnaligned(as: V8.self)
        d.storeBytes(of: v, as: V16.self)
        ow += 8
    }
    while ow < cols.upperBound { dst[2 * ow] += src[ow]; ow += 1 }
}
