import Foundation

/// A smooth, randomly deformed ellipsoid in patient millimetres: the building block of phantom organs.
struct Blob: Sendable {
    /// Centre (patient frame: x to the patient's left... see ``PhantomAnatomy``; mm).
    var centre: SIMD3<Double>
    /// Semi-axes before rotation (mm).
    var axes: SIMD3<Double> { didSet { updateBound() } }
    /// Rotation about the z axis (radians).
    var yaw: Double = 0 { didSet { updateRotation() } }
    /// Tilt of the local z axis towards local y (radians), applied after the yaw.
    var pitch: Double = 0 { didSet { updateRotation() } }
    /// Rows of the world-to-local rotation (from yaw and pitch).
    private var r0 = SIMD3<Double>(1, 0, 0), r1 = SIMD3<Double>(0, 1, 0), r2 = SIMD3<Double>(0, 0, 1)
    /// Radial deformation: `1 + sum(amp * sin(dot(freq, dir) + phase))` over unit directions.
    var harmonics: [Harmonic] = [] { didSet { updateBound() } }
    /// Along local -x the other two semi-axes shrink by up to this fraction (a wedge, as the liver's left lobe).
    var taper: Double = 0

    /// One term of the surface deformation.
    struct Harmonic: Sendable { var freq: SIMD3<Double>; var amp: Double; var phase: Double }

    init(centre: SIMD3<Double>, axes: SIMD3<Double>, yaw: Double = 0, pitch: Double = 0, harmonics: [Harmonic] = [], taper: Double = 0) {
        self.centre = centre
        self.axes = axes
        self.yaw = yaw
        self.pitch = pitch
        self.harmonics = harmonics
        self.taper = taper
        updateRotation()
        updateBound()
    }

    private mutating func updateBound() {
        radius = axes.max() * (1 + harmonics.reduce(0) { $0 + abs($1.amp) })
    }

    private mutating func updateRotation() {
        let (c, s) = (cos(yaw), sin(yaw)), (cp, sp) = (cos(pitch), sin(pitch))
        // local = Rpitch * Ryaw * d, Ryaw rows (c, s, 0), (-s, c, 0), (0, 0, 1); Rpitch rows (1,0,0), (0,cp,sp), (0,-sp,cp)
        r0 = SIMD3(c, s, 0)
        r1 = SIMD3(-s * cp, c * cp, sp)
        r2 = SIMD3(s * sp, -c * sp, cp)
    }

    /// Largest distance from the centre any point inside can have.
    private(set) var radius: Double = 0

    /// The point in the blob's local, axis-scaled frame.
    @inline(__always) func local(_ p: SIMD3<Double>) -> SIMD3<Double> {
        let d = p - centre
        return SIMD3((r0 * d).sum(), (r1 * d).sum(), (r2 * d).sum()) / axes
    }

    /// Normalised radius: below 1 inside, 1 on the surface.
    func depth(_ p: SIMD3<Double>) -> Double {
        var u = local(p)
        if taper > 0 {
            let shrink = 1 - taper * min(max(-u.x, 0), 1)
            u.y /= shrink; u.z /= shrink
        }
        let r = (u * u).sum().squareRoot()
        guard r > 1e-9, !harmonics.isEmpty else { return r }
        let dir = u / r
        var m = 1.0
        for h in harmonics { m += h.amp * sin((h.freq * dir).sum() + h.phase) }
        return r / max(m, 0.3)
    }

    /// Whether `p` lies inside.
    @inline(__always) func contains(_ p: SIMD3<Double>) -> Bool {
        let d = p - centre, r = radius
        return (d * d).sum() <= r * r && depth(p) < 1
    }

    /// The same blob scaled by `f` about `anchor`.
    func scaled(_ f: Double, about anchor: SIMD3<Double>) -> Blob {
        var b = self
        b.centre = anchor + (centre - anchor) * f
        b.axes *= f
        return b
    }

    /// Random low-order harmonics with total amplitude up to `strength`.
    static func harmonics(_ n: Int, strength: Double, rng: inout SeededRandom) -> [Harmonic] {
        (0..<n).map { _ in
            let f = SIMD3(rng.gaussian(), rng.gaussian(), rng.gaussian()) * 1.6
            return Harmonic(freq: f, amp: rng.uniform(0...(strength / Double(n))), phase: rng.uniform(0...(2 * Double.pi)))
        }
    }
}

/// A tube along a polyline with a radius interpolated between the points: vessels, bowel, pancreas, stomach.
struct Tube: Sendable {
    /// The centre line (mm).
    var points: [SIMD3<Double>]
    /// Radius at each point (mm).
    var radii: [Double]
    /// Bounding box (mm), padded by the largest radius.
    let lower: SIMD3<Double>, upper: SIMD3<Double>

    init(points: [SIMD3<Double>], radii: [Double]) {
        precondition(points.count >= 2 && radii.count == points.count, "Tube: need 2+ points with one radius each")
        self.points = points
        self.radii = radii
        let r = radii.max()!
        var lo = points[0], hi = points[0]
        for p in points { lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p) }
        lower = lo - r; upper = hi + r
    }

    /// Distance from `p` to the tube's centre line relative to the local radius (below 1 inside), and the
    /// position along the line (segment index + fraction).
    @inline(__always) func depth(_ p: SIMD3<Double>) -> (depth: Double, along: Double) {
        if any(p .< lower) || any(p .> upper) { return (.infinity, 0) }
        var best = Double.infinity, along = 0.0
        for s in 0..<(points.count - 1) {
            let a = points[s], ab = points[s + 1] - a
            let t = min(max(((p - a) * ab).sum() / max((ab * ab).sum(), 1e-9), 0), 1)
            let q = a + ab * t - p
            let r = radii[s] + (radii[s + 1] - radii[s]) * t
            let d = (q * q).sum().squareRoot() / r
            if d < best { best = d; along = Double(s) + t }
        }
        return (best, along)
    }

    /// Whether `p` lies inside.
    @inline(__always) func contains(_ p: SIMD3<Double>) -> Bool { depth(p).depth < 1 }
}

/// Smooth random texture (a few plane waves), zero mean, amplitude about 1: organ parenchyma, bowel content.
struct Texture: Sendable {
    var waves: [(SIMD3<Double>, Double)]

    init(count: Int, wavelengthMM: ClosedRange<Double>, rng: inout SeededRandom) {
        waves = (0..<count).map { _ in
            var d = SIMD3(rng.gaussian(), rng.gaussian(), rng.gaussian())
            d /= max((d * d).sum().squareRoot(), 1e-9)
            return (d * (2 * Double.pi / rng.uniform(wavelengthMM)), rng.uniform(0...(2 * Double.pi)))
        }
    }

    /// The texture value at `p`, in about -1...1.
    @inline(__always) func value(_ p: SIMD3<Double>) -> Double {
        var v = 0.0
        for (k, phase) in waves { v += sin((k * p).sum() + phase) }
        return waves.isEmpty ? 0 : v / Double(waves.count).squareRoot()
    }
}
