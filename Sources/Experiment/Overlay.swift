import Foundation
import Imaging

/// Overlay images of a CT case: grey CT (HU window), ground truth as translucent colour, each prediction as an
/// outline, on the axial and coronal slices through the most organ voxels; one column per model.
public struct OverlayRenderer: Sendable {
    /// HU window mapped to black...white.
    public var window: (lower: Double, upper: Double)
    /// Screen pixels per millimetre-equivalent voxel of the finest axis.
    public var zoom: Int = 3

    /// Ground-truth fill colours per label (1 liver, 2 spleen).
    public static let truthColours: [Int: RGB] = [1: RGB(235, 90, 60), 2: RGB(70, 130, 240)]
    /// Prediction outline colours per label.
    public static let predictionColours: [Int: RGB] = [1: RGB(255, 230, 0), 2: RGB(0, 240, 255)]

    /// A renderer for `window` (HU).
    public init(window: [Double], zoom: Int = 3) {
        self.window = (window[0], window[1])
        self.zoom = zoom
    }

    /// The grid image: a title line, a header of column names, then one row per plane (axial, coronal).
    /// `columns` pairs a name with a prediction (nil: ground truth only).
    public func render(title: String, image: Volume, truth: Volume, columns: [(name: String, prediction: Volume?)]) -> RGBImage {
        let ct = image.reoriented(to: "RAS"), gt = truth.reoriented(to: "RAS")
        let preds = columns.map { $0.prediction?.reoriented(to: "RAS") }
        let d = ct.dims
        let k = bestSlice(gt, axis: 2), j = bestSlice(gt, axis: 1)
        let sp = ct.grid.spacing, fine = min(sp.x, sp.y, sp.z)
        let z = (0..<3).map { max(1, Int((Double(zoom) * sp[$0] / fine).rounded())) }
        // Axial: columns = i (patient right on the left, radiological), rows = j (anterior at the top).
        // Coronal: columns = i, rows = k (superior at the top).
        let planes: [(String, Int, Int, Int, Int, (Int, Int) -> Int)] = [
            ("AXIAL", d[0], d[1], z[0], z[1], { c, r in ct.index(d[0] - 1 - c, d[1] - 1 - r, k) }),
            ("CORONAL", d[0], d[2], z[0], z[2], { c, r in ct.index(d[0] - 1 - c, j, d[2] - 1 - r) }),
        ]
        let cellW = d[0] * z[0], gap = 6, left = 60, top = 34
        let rowHeights = planes.map { $0.2 * $0.4 }
        let legend = 18
        var out = RGBImage(width: left + columns.count * (cellW + gap), height: top + rowHeights.reduce(0, +) + gap * planes.count + legend,
                           colour: RGB(24, 24, 28))
        out.text(title, x: 4, y: 4, colour: .white)
        for (n, c) in columns.enumerated() {
            out.text(String(c.name.prefix(cellW / BitmapFont.advance)), x: left + n * (cellW + gap), y: 20, colour: RGB(220, 220, 220))
        }
        var y0 = top
        for (p, plane) in planes.enumerated() {
            out.text(plane.0, x: 4, y: y0 + rowHeights[p] / 2 - 4, colour: RGB(220, 220, 220))
            for n in columns.indices {
                drawCell(into: &out, x0: left + n * (cellW + gap), y0: y0, cols: plane.1, rows: plane.2, zx: plane.3, zy: plane.4,
                         index: plane.5, ct: ct, truth: gt, prediction: preds[n])
            }
            y0 += rowHeights[p] + gap
        }
        var lx = 4
        for (label, colour) in [("GT LIVER", Self.truthColours[1]!), ("GT SPLEEN", Self.truthColours[2]!),
                                ("PREDICTED LIVER", Self.predictionColours[1]!), ("PREDICTED SPLEEN", Self.predictionColours[2]!)] {
            out.fill(x: lx, y: y0 + 2, w: 10, h: 8, colour: colour)
            out.text(label, x: lx + 14, y: y0 + 2, colour: .white)
            lx += 14 + BitmapFont.width(label) + 16
        }
        return out
    }

    private func drawCell(into out: inout RGBImage, x0: Int, y0: Int, cols: Int, rows: Int, zx: Int, zy: Int,
                          index: (Int, Int) -> Int, ct: Volume, truth: Volume, prediction: Volume?) {
        let lo = window.lower, span = window.upper - window.lower
        func label(_ v: Volume?, _ c: Int, _ r: Int) -> Int {
            guard let v, c >= 0, r >= 0, c < cols, r < rows else { return 0 }
            return Int(v.voxels[index(c, r)])
        }
        for r in 0..<rows {
            for c in 0..<cols {
                let n = index(c, r)
                let g = UInt8(clamping: Int(((Double(ct.voxels[n]) - lo) / span * 255).rounded()))
                var colour = RGB(g, g, g)
                if let t = Self.truthColours[Int(truth.voxels[n])] { colour = t.over(colour, alpha: 0.4) }
                out.fill(x: x0 + c * zx, y: y0 + r * zy, w: zx, h: zy, colour: colour)
            }
        }
        // Outline: each predicted voxel whose 4-neighbour has another label gets a border on that side.
        guard prediction != nil else { return }
        for r in 0..<rows {
            for c in 0..<cols {
                let l = label(prediction, c, r)
                guard let colour = Self.predictionColours[l] else { continue }
                let x = x0 + c * zx, y = y0 + r * zy
                if label(prediction, c - 1, r) != l { out.fill(x: x, y: y, w: 1, h: zy, colour: colour) }
                if label(prediction, c + 1, r) != l { out.fill(x: x + zx - 1, y: y, w: 1, h: zy, colour: colour) }
                if label(prediction, c, r - 1) != l { out.fill(x: x, y: y, w: zx, h: 1, colour: colour) }
                if label(prediction, c, r + 1) != l { out.fill(x: x, y: y + zy - 1, w: zx, h: 1, colour: colour) }
            }
        }
    }

    /// The slice index along `axis` with the most labelled (non-zero) voxels.
    func bestSlice(_ v: Volume, axis: Int) -> Int {
        let d = v.dims
        var counts = [Int](repeating: 0, count: d[axis])
        var n = 0
        for k in 0..<d[2] { for j in 0..<d[1] { for i in 0..<d[0] {
            if v.voxels[n] != 0 { counts[[i, j, k][axis]] += 1 }
            n += 1
        } } }
        return counts.indices.max { counts[$0] < counts[$1] } ?? d[axis] / 2
    }
}
