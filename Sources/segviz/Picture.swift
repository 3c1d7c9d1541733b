import ArgumentParser
import Experiment
import Foundation
import Imaging

/// `segviz picture`: axial and coronal views of CTs in one HU window, side by side: a real CT beside phantoms,
/// or a CT with a label mask drawn over it.
struct Picture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a CT (axial and coronal, one HU window) beside phantoms, or with a predicted mask outlined, as a PNG.",
        discussion: """
        Columns: each --ct (with its --mask outlined: 1 liver yellow, 2 spleen cyan; with --truth filled), then one phantom per
        --phantom-seed (scanner grid, as segviz phantom --scanner). Every image is brought to RAS and --display-spacing
        by the pipeline's resampling. Slices: through the most mask (or truth) voxels, else through the most liver and
        spleen voxels for phantoms, else --axial-fraction of the height and the middle coronal plane.
        """)

    @Option(help: "A CT (.nii/.nii.gz); repeat for more columns.") var ct: [String] = []
    @Option(help: "Label mask drawn as outlines over the matching --ct (same order; federation numbering).") var mask: [String] = []
    @Option(help: "Ground-truth label file filled over the matching --ct, with its --truth-labels mapping.") var truth: [String] = []
    @Option(help: "Label mapping of --truth (e.g. msd-spleen).") var truthLabels: String = "msd-spleen"
    @Option(help: "Phantom seeds to draw (case 0 of each series).") var phantomSeed: [UInt64] = []
    @Option(help: "Phantom contrast phase (default: random per case).") var phase: String?
    @Option(help: "HU window lower,upper.") var window: String = "-160,240"
    @Option(help: "Display voxel size (mm).") var displaySpacing: Double = 1.5
    @Option(help: "Axial slice height as a fraction from the bottom when no mask picks it.") var axialFraction: Double = 0.75
    @Option(help: "Column titles (default: file names / seeds), one per column.") var title: [String] = []
    @Option(help: "Output PNG.") var out: String

    func run() throws {
        let w = window.split(separator: ",").compactMap { Double($0) }
        guard w.count == 2, w[0] < w[1] else { throw ValidationError("--window needs lower,upper with lower < upper") }
        let ph = try phase.map { p -> ContrastPhase in
            guard let c = ContrastPhase(rawValue: p) else { throw ValidationError("--phase must be one of \(ContrastPhase.allCases.map(\.rawValue))") }
            return c
        }
        var columns: [(name: String, image: Volume, fill: Volume?, outline: Volume?)] = []
        for (n, path) in ct.enumerated() {
            let img = try NIfTI.read(URL(fileURLWithPath: path))
            let m = n < mask.count ? try NIfTI.read(URL(fileURLWithPath: mask[n])) : nil
            var t: Volume? = nil
            if n < truth.count {
                let raw = try NIfTI.read(URL(fileURLWithPath: truth[n]))
                let map = try LabelMapping(parsing: truthLabels)
                t = Volume(grid: raw.grid, voxels: raw.voxels.map { Float(map.map(Int($0)) ?? 0) })
            }
            columns.append((URL(fileURLWithPath: path).lastPathComponent, img, t, m))
        }
        for s in phantomSeed {
            var g = PhantomGenerator(scanner: true, phase: ph)
            g.native = true
            let c = g.generate(seed: s, index: 0)
            let organs = Volume(grid: c.image.grid, voxels: c.structures.map {
                $0 == Int8(PhantomStructure.liver.rawValue) || $0 == Int8(PhantomStructure.lesion.rawValue) ? 1 : $0 == Int8(PhantomStructure.spleen.rawValue) ? 2 : 0
            })
            columns.append(("phantom seed \(s) \(c.phase.rawValue)", c.image, nil, organs))
        }
        guard !columns.isEmpty else { throw ValidationError("give at least one --ct or --phantom-seed") }
        for (n, t) in title.enumerated() where n < columns.count { columns[n].name = t }
        let views = columns.enumerated().map { (n, c) -> RenderedColumn in
            let sp = SIMD3(displaySpacing, displaySpacing, displaySpacing)
            let img = c.image.reoriented(to: "RAS").resampled(toSpacing: sp, interpolation: .linear)
            let on = { (v: Volume?) in v.map { $0.reoriented(to: "RAS").resampled(to: img.grid, interpolation: .nearest) } }
            let fill = on(c.fill), outline = on(c.outline)
            // Phantom columns show their organs only to choose the slices.
            let isPhantom = n >= ct.count
            return RenderedColumn(name: c.name, image: img, fill: fill, outline: isPhantom ? nil : outline,
                                  picker: fill ?? outline, axialFraction: axialFraction)
        }
        let png = SliceSheet(window: (w[0], w[1])).render(views)
        _ = try PNG.write(png, to: URL(fileURLWithPath: out))
        print("wrote \(out) (\(png.width) x \(png.height))")
    }
}

/// One column of a ``SliceSheet``: an image on a RAS display grid, optional fill and outline labels, and the volume
/// whose labelled voxels choose the slices.
struct RenderedColumn {
    var name: String
    var image: Volume
    var fill: Volume?
    var outline: Volume?
    var picker: Volume?
    var axialFraction: Double

    /// Axial (k) and coronal (j) slice indices.
    var slices: (k: Int, j: Int) {
        let d = image.dims
        guard let p = picker, p.voxels.contains(where: { $0 != 0 }) else {
            return (min(d[2] - 1, Int(Double(d[2]) * axialFraction)), d[1] / 2)
        }
        var ck = [Int](repeating: 0, count: d[2]), cj = [Int](repeating: 0, count: d[1])
        var n = 0
        for k in 0..<d[2] { for j in 0..<d[1] { for _ in 0..<d[0] {
            if p.voxels[n] != 0 { ck[k] += 1; cj[j] += 1 }
            n += 1
        } } }
        // d has at least one voxel per axis (a Volume's invariant), so both lists are non-empty
        return (ck.indices.max { ck[$0] < ck[$1] } ?? 0, cj.indices.max { cj[$0] < cj[$1] } ?? 0)
    }
}

/// Draws columns of axial (top) and coronal (bottom) slices, radiological convention (patient right on the left).
struct SliceSheet {
    var window: (Double, Double)

    func render(_ cols: [RenderedColumn]) -> RGBImage {
        let gap = 8, top = 16
        let widths = cols.map { $0.image.dims[0] }
        let axH = cols.map { $0.image.dims[1] }.max() ?? 0, coH = cols.map { $0.image.dims[2] }.max() ?? 0  // no columns: an empty sheet
        var out = RGBImage(width: widths.reduce(0, +) + gap * (cols.count + 1), height: top + axH + coH + 3 * gap, colour: RGB(20, 20, 24))
        var x0 = gap
        for c in cols {
            out.text(String(c.name.prefix(max(4, c.image.dims[0] / BitmapFont.advance))), x: x0, y: 4, colour: .white)
            let (k, j) = c.slices, d = c.image.dims
            draw(&out, c, x0: x0, y0: top, w: d[0], h: d[1]) { i, r in c.image.index(d[0] - 1 - i, d[1] - 1 - r, k) }
            draw(&out, c, x0: x0, y0: top + axH + gap, w: d[0], h: d[2]) { i, r in c.image.index(d[0] - 1 - i, j, d[2] - 1 - r) }
            x0 += d[0] + gap
        }
        return out
    }

    private func draw(_ out: inout RGBImage, _ c: RenderedColumn, x0: Int, y0: Int, w: Int, h: Int, index: (Int, Int) -> Int) {
        let span = window.1 - window.0
        for r in 0..<h { for i in 0..<w {
            let n = index(i, r)
            let g = UInt8(clamping: Int(((Double(c.image.voxels[n]) - window.0) / span * 255).rounded()))
            var colour = RGB(g, g, g)
            if let f = c.fill, let t = OverlayRenderer.truthColours[Int(f.voxels[n])] { colour = t.over(colour, alpha: 0.4) }
            out[x0 + i, y0 + r] = colour
        } }
        guard let o = c.outline else { return }
        func l(_ i: Int, _ r: Int) -> Int { i < 0 || r < 0 || i >= w || r >= h ? 0 : Int(o.voxels[index(i, r)]) }
        for r in 0..<h { for i in 0..<w {
            let v = l(i, r)
            guard let colour = OverlayRenderer.predictionColours[v] else { continue }
            if l(i - 1, r) != v || l(i + 1, r) != v || l(i, r - 1) != v || l(i, r + 1) != v { out[x0 + i, y0 + r] = colour }
        } }
    }
}
