/// A Hounsfield-unit window mapped linearly to 0...1 with clipping, as MONAI's
/// `ScaleIntensityRanged(a_min:, a_max:, b_min: 0, b_max: 1, clip: true)`.
public struct HUWindow: Sendable, Equatable, CustomStringConvertible {
    /// HU mapped to 0.
    public var lower: Float
    /// HU mapped to 1.
    public var upper: Float

    /// A window from its bounds. - Precondition: `lower < upper`.
    public init(lower: Float, upper: Float) {
        precondition(lower < upper, "HUWindow: lower \(lower) must be below upper \(upper)")
        self.lower = lower
        self.upper = upper
    }

    /// The abdominal soft-tissue window of the SegViz pipeline, -175...250 HU.
    public static let abdomen = HUWindow(lower: -175, upper: 250)

    /// Parses `"LOWER..UPPER"`, e.g. `"-175..250"`; `nil` when malformed or empty.
    public init?(parsing text: String) {
        let parts = text.components(separatedBy: "..")
        guard parts.count == 2, let lo = Float(parts[0]), let hi = Float(parts[1]), lo < hi else { return nil }
        self.init(lower: lo, upper: hi)
    }

    /// `v` mapped to 0...1.
    @inlinable public func apply(_ v: Float) -> Float { min(max((v - lower) / (upper - lower), 0), 1) }

    /// The volume with every voxel windowed.
    public func apply(_ volume: Volume) -> Volume {
        Volume(grid: volume.grid, voxels: volume.voxels.map(apply))
    }

    public var description: String { "\(lower)..\(upper)" }
}

import Foundation
