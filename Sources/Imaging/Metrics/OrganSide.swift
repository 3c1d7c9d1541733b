/// Which side of the body a labelled organ lies on, in the file's own world frame (the header's RAS+ millimetres).
///
/// The liver lies on the patient's right and the spleen on the left in everyone but people with situs inversus
/// (about 1 in 10,000), so an organ found on the other side means the header most likely mirrors left and right
/// (a DICOM-to-NIfTI slip). A model that has learned the side of each organ then misses it: trained without
/// left-right mirroring it calls such a spleen "liver". msd-spleen-8's header, for one, puts its spleen at
/// x = +99 mm, on the patient's right, with the liver on the left. A check to print, not to refuse the file.
public struct OrganSide: Sendable, Equatable, CustomStringConvertible {
    /// The organ measured.
    public var organ: Organ
    /// World x (RAS+, mm) of the organ's centroid minus that of the body (voxels above -300 HU): positive
    /// towards the patient's right per the header.
    public var offsetMM: Double

    /// How far (mm) past the body's centre the organ's centroid must lie on the unexpected side to be flagged;
    /// liver and spleen centroids lie 50-110 mm from it on their own side.
    public static let marginMM = 20.0

    /// Whether the organ lies on the side opposite to normal anatomy (the liver left, the spleen right).
    public var mirrored: Bool { organ == .liver ? offsetMM < -Self.marginMM : offsetMM > Self.marginMM }

    /// A sentence for the operator.
    public var description: String {
        let side = offsetMM >= 0 ? "right" : "left"
        let base = "the labelled \(organ) lies \(Int(abs(offsetMM).rounded())) mm to the patient's \(side) of the body's centre per the header"
        guard mirrored else { return base }
        return base + ": the file's left-right axis is probably mirrored (or the patient has situs inversus); a model "
            + "trained without left-right mirroring will look for the \(organ) on the other side"
    }

    /// The side of `organ` (voxels of `label` equal to its federation number) relative to the body in `image`
    /// (each measured through its own affine); `nil` when the label holds no such voxel or the image no body.
    public static func measure(image: Volume, label: Volume, organ: Organ) -> OrganSide? {
        guard let o = centroidX(label, where: { $0 == Float(organ.rawValue) }),
              let b = centroidX(image, where: { $0 > -300 }) else { return nil }
        return OrganSide(organ: organ, offsetMM: o - b)
    }

    /// World x of the centroid of the voxels of `v` whose value satisfies `member` (the affine is linear: the
    /// centroid of the indices is mapped).
    static func centroidX(_ v: Volume, where member: (Float) -> Bool) -> Double? {
        let (ni, nj) = (v.dims[0], v.dims[1])
        var sum = SIMD3<Double>.zero, n = 0.0
        for (q, x) in v.voxels.enumerated() where member(x) {
            sum += SIMD3(Double(q % ni), Double((q / ni) % nj), Double(q / (ni * nj)))
            n += 1
        }
        guard n > 0 else { return nil }
        return v.affine.apply(sum / n).x
    }
}
