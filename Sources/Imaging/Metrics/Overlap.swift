/// Dice and Hausdorff distance of one organ in one case.
public struct OrganScore: Sendable, Equatable, Codable {
    /// 2|P∩T| / (|P| + |T|); 1 when both are empty.
    public var dice: Double
    /// 95th-percentile symmetric surface distance in mm; `nil` when either mask is empty.
    public var hd95: Double?
}

/// Segmentation metrics on label volumes of the same grid, as MONAI's `DiceMetric` and
/// `HausdorffDistanceMetric(percentile=95)` per class.
public enum Metrics {
    /// Dice of label `label` between `prediction` and `truth`.
    public static func dice(_ prediction: Volume, _ truth: Volume, label: Int) -> Double {
        precondition(prediction.dims == truth.dims, "Metrics.dice: dims \(prediction.dims) and \(truth.dims) differ")
        let l = Float(label)
        var inter = 0, p = 0, t = 0
        for n in prediction.voxels.indices {
            let a = prediction.voxels[n] == l, b = truth.voxels[n] == l
            if a { p += 1 }
            if b { t += 1 }
            if a && b { inter += 1 }
        }
        return p + t == 0 ? 1 : 2 * Double(inter) / Double(p + t)
    }

    /// Dice and HD95 of label `label`; distances use the truth grid's voxel spacing.
    public static func score(_ prediction: Volume, _ truth: Volume, label: Int) -> OrganScore {
        let l = Float(label)
        let a = prediction.voxels.map { $0 == l }, b = truth.voxels.map { $0 == l }
        return OrganScore(dice: dice(prediction, truth, label: label),
                          hd95: SurfaceDistance.hausdorff95(a, b, dims: truth.dims, spacing: truth.grid.spacing))
    }
}
