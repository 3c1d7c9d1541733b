import Foundation

/// One image file's geometry and modality LUT, parsed from the attributes GDCM read.
struct DICOMSlice {
    let file: String
    let seriesUID: String
    /// Image Position (Patient): the centre of the first transmitted pixel, LPS mm.
    let position: SIMD3<Double>
    /// Direction cosines of a row (increasing column index) and of a column (increasing row index), LPS.
    let rowDirection: SIMD3<Double>, columnDirection: SIMD3<Double>
    /// Pixel Spacing: between rows, between columns (mm).
    let rowSpacing: Double, columnSpacing: Double
    let slope: Double, intercept: Double
    let rows: Int, columns: Int

    init(file: String, header h: HeaderText) throws(DICOMError) {
        func numbers(_ key: String, _ count: Int, default value: [Double]? = nil) throws(DICOMError) -> [Double] {
            let text = h[key]
            if text.isEmpty, let value { return value }
            let v = text.split(separator: "\\").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count == count, v.allSatisfy({ $0?.isFinite == true }) else {
                throw .badAttribute(file: file, attribute: key, value: text)
            }
            return v.compactMap { $0 }
        }
        if let frames = Int(h["NumberOfFrames"].trimmingCharacters(in: .whitespaces)), frames > 1 {
            throw .unsupported(file: file, reason: "multi-frame image (\(frames) frames)")
        }
        guard h.samplesPerPixel <= 1 else { throw .unsupported(file: file, reason: "\(h.samplesPerPixel) samples per pixel (colour)") }
        self.file = file
        seriesUID = h["SeriesInstanceUID"]
        let p = try numbers("ImagePositionPatient", 3)
        let o = try numbers("ImageOrientationPatient", 6)
        let s = try numbers("PixelSpacing", 2)
        position = SIMD3(p[0], p[1], p[2])
        rowDirection = SIMD3(o[0], o[1], o[2])
        columnDirection = SIMD3(o[3], o[4], o[5])
        let unit = { (v: SIMD3<Double>) in abs((v * v).sum() - 1) < 1e-3 }
        guard unit(rowDirection), unit(columnDirection), abs((rowDirection * columnDirection).sum()) < 1e-3 else {
            throw .badAttribute(file: file, attribute: "ImageOrientationPatient", value: h["ImageOrientationPatient"])
        }
        guard s[0] > 0, s[1] > 0 else { throw .badAttribute(file: file, attribute: "PixelSpacing", value: h["PixelSpacing"]) }
        rowSpacing = s[0]
        columnSpacing = s[1]
        slope = try numbers("RescaleSlope", 1, default: [1])[0]
        intercept = try numbers("RescaleIntercept", 1, default: [0])[0]
        rows = h.rows
        columns = h.columns
    }

    /// The slice normal, row direction x column direction.
    var normal: SIMD3<Double> {
        let r = rowDirection, c = columnDirection
        return SIMD3(r.y * c.z - r.z * c.y, r.z * c.x - r.x * c.z, r.x * c.y - r.y * c.x)
    }
}

/// The images of one series sorted along the slice normal, checked to form an evenly spaced stack.
struct DICOMStack {
    let slices: [DICOMSlice]
    let rows: Int, columns: Int
    /// Voxel (column, row, slice) to RAS mm.
    let affine: Affine

    init(folder: String, slices unsorted: [DICOMSlice]) throws(DICOMError) {
        let uids = Set(unsorted.map(\.seriesUID))
        guard uids.count == 1 else { throw .mixedSeries(folder: folder, seriesUIDs: uids.sorted()) }
        let first = unsorted[0]
        for s in unsorted.dropFirst() {
            let name = (s.file as NSString).lastPathComponent
            if s.rows != first.rows || s.columns != first.columns {
                throw .inconsistentImages(folder: folder, file: name, attribute: "Rows/Columns")
            }
            let dr = s.rowDirection - first.rowDirection, dc = s.columnDirection - first.columnDirection
            if max(dr.max(), -dr.min(), dc.max(), -dc.min()) > 1e-4 {
                throw .inconsistentImages(folder: folder, file: name, attribute: "ImageOrientationPatient")
            }
            if abs(s.rowSpacing - first.rowSpacing) > 1e-4 || abs(s.columnSpacing - first.columnSpacing) > 1e-4 {
                throw .inconsistentImages(folder: folder, file: name, attribute: "PixelSpacing")
            }
        }
        let n = first.normal
        let sorted = unsorted.sorted { ($0.position * n).sum() < ($1.position * n).sum() }
        let along = sorted.map { ($0.position * n).sum() }
        let gaps = zip(along.dropFirst(), along).map { $0 - $1 }
        for (i, g) in gaps.enumerated() where g < 1e-3 {
            throw .duplicatePosition(folder: folder, files: [sorted[i].file, sorted[i + 1].file].map { ($0 as NSString).lastPathComponent })
        }
        var kColumn = n  // a single slice: 1 mm along the normal
        if !gaps.isEmpty {
            let step = gaps.sorted()[(gaps.count - 1) / 2]
            let tolerance = DICOMSeries.spacingTolerance * step + 1e-3
            for (i, g) in gaps.enumerated() where abs(g - step) > tolerance {
                let multiple = (g / step).rounded()
                if multiple >= 2 && abs(g - multiple * step) <= tolerance * multiple {
                    throw .missingSlice(folder: folder, after: i, missing: Int(multiple) - 1, gap: g, spacing: step)
                }
                throw .inconsistentSpacing(folder: folder, after: i, gap: g, spacing: step)
            }
            // Every position on one line (a gantry tilt is a constant in-plane shift per slice).
            kColumn = (sorted.last!.position - sorted[0].position) / Double(sorted.count - 1)
            for (k, s) in sorted.enumerated() {
                let off = s.position - (sorted[0].position + kColumn * Double(k))
                if (off * off).sum().squareRoot() > tolerance {
                    throw .inconsistentSpacing(folder: folder, after: max(k - 1, 0), gap: gaps[max(k - 1, 0)], spacing: step)
                }
            }
        }
        slices = sorted
        rows = first.rows
        columns = first.columns
        let i = first.rowDirection * first.columnSpacing, j = first.columnDirection * first.rowSpacing
        let o = sorted[0].position
        // LPS to RAS: negate x and y.
        affine = Affine(rowMajor: [-i.x, -j.x, -kColumn.x, -o.x,
                                   -i.y, -j.y, -kColumn.y, -o.y,
                                   i.z, j.z, kColumn.z, o.z,
                                   0, 0, 0, 1])
    }
}
