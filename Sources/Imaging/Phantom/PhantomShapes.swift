import Foundation

/// A smooth, randomly deformed ellipsoid in patient millimetres: the building block of phantom organs.
struct Blob: Sendable {
    /// Centre (patient frame, RAS: see ``PhantomAnatomy``; mm).
    var centre: SIMD3<Double>
    /// Semi-axes before rotation (mm).
    var axes: SIMD3<Double> { didSet { updateBound() } }
    /// Rotation about the z axis (radians).
    var yaw: Double = 0 { didSet { updateRotation() } }
    /// Tilt of the local z axis towards local y (radians), applied after the yaw.
    var pitch: Double = 0 { didSet { updateRotation() } }
    /// Rows of the world-to-local rotation (from yaw and pitch).
    private var r0 = SIMD3<Double>(1, 0, 0), r1 = SIMD3<Double>(0, 1, 0), r2 = SIMD3<Double>(0, 0, 1)
    /// Radial deformation: `1 + sum(amp * sin(dot(freq, dir) + phase))` over unit directions (at most four terms).
    var harmonics: [Harmonic] {
        get { (0..<harmonicCount).map { Harmonic(freq: SIMD3(hx[$0], hy[$0], hz[$0]), amp: hAmp[$0], phase: hPhase[$0]) } }
        set {
            precondition(newValue.count <= 4, "Blob: at most four harmonics")
            harmonicCount = newValue.count
            for (n, h) in newValue.enumerated() { (hx[n], hy[n], hz[n], hAmp[n], hPhase[n]) = (h.freq.x, h.freq.y, h.freq.z, h.amp, h.phase) }
            updateBound()
        }
    }
    /// The harmonics stored inline, lane n for term n, so that a Blob is plain bytes (no reference counting when
    /// the painter copies it millions of times).
    private var hx = SIMD4<Double>(), hy = SIMD4<Double>(), hz = SIMD4<Double>(), hAmp = SIMD4<Double>(), hPhase = SIMD4<Double>()
    private var harmonicCount = 0
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
        radius = axes.max() * (1 + (0..<harmonicCount).reduce(0) { $0 + abs(hAmp[$1]) })
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
        guard r > 1e-9, harmonicCount > 0 else { return r }
        let dir = u / r
        var m = 1.0
        for n in 0..<harmonicCount { m += hAmp[n] * sin(hx[n] * dir.x + hy[n] * dir.y + hz[n] * dir.z + hPhase[n]) }
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
    /// One piece of the centre line, from `a` to `a + ab`, its radius going from `r0` to `r1`, and its bounding
    /// box padded by the larger radius (a point outside lies more than a radius away: depth above 1, skipped).
    struct Segment: Sendable {
        var a: SIMD3<Double>, ab: SIMD3<Double>, r0: Double, r1: Double, lower: SIMD3<Double>, upper: SIMD3<Double>
    }

    /// The segments (plain values in one array: a Tube copies with one reference count).
    let segments: [Segment]
    /// Bounding box (mm), padded by the largest radius.
    let lower: SIMD3<Double>, upper: SIMD3<Double>

    init(points: [SIMD3<Double>], radii: [Double]) {
        precondition(points.count >= 2 && radii.count == points.count, "Tube: need 2+ points with one radius each")
        segments = (0..<(points.count - 1)).map { n in
            let (p, q, r) = (points[n], points[n + 1], max(radii[n], radii[n + 1]))
            return Segment(a: p, ab: q - p, r0: radii[n], r1: radii[n + 1], lower: pointwiseMin(p, q) - r, upper: pointwiseMax(p, q) + r)
        }
        lower = segments.map(\.lower).reduce(segments[0].lower) { pointwiseMin($0, $1) }
        upper = segments.map(\.upper).reduce(segments[0].upper) { pointwiseMax($0, $1) }
    }

    /// Centre-line point `n` (mm).
    func point(_ n: Int) -> SIMD3<Double> { n < segments.count ? segments[n].a : segments[n - 1].a + segments[n - 1].ab }

    /// Radius at centre-line point `n` (mm).
    func radius(_ n: Int) -> Double { n < segments.count ? segments[n].r0 : segments[n - 1].r1 }

    /// Distance from `p` to the tube's centre line relative to the local radius (below 1 inside; exact there,
    /// above 1 or infinity outside).
    @inline(__always) func depth(_ p: SIMD3<Double>) -> Double {
        if any(p .< lower) || any(p .> upper) { return .infinity }
        var best = Double.infinity
        segments.withUnsafeBufferPointer { segs in
            for g in segs {
                if any(p .< g.lower) || any(p .> g.upper) { continue }
                let t = min(max(((p - g.a) * g.ab).sum() / max((g.ab * g.ab).sum(), 1e-9), 0), 1)
                let q = g.a + g.ab * t - p
                let r = g.r0 + (g.r1 - g.r0) * t
                best = min(best, (q * q).sum().squareRoot() / r)
            }
        }
        return best
    }

    /// Whether `p` lies inside.
    @inline(__always) func contains(_ p: SIMD3<Double>) -> Bool { depth(p) < 1 }
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
