import Foundation

/// A smooth, randomly deformed ellipsoid in world millimetres: the building block of phantom organs.
struct Blob: Sendable {
    /// Centre (RAS mm).
    var centre: SIMD3<Double>
    /// Semi-axes before rotation (mm).
    var axes: SIMD3<Double>
    /// Rotation about the z axis (radians).
    var yaw: Double = 0
    /// Radial deformation: `1 + sum(amp * sin(dot(freq, dir) + phase))` over unit directions.
    var harmonics: [(freq: SIMD3<Double>, amp: Double, phase: Double)] = []
    /// Left-right taper: along local -x the other two semi-axes shrink by up to this fraction.
    var taper: Double = 0

    /// Largest distance from the centre any point inside can have.
    var radius: Double { axes.max() * (1 + harmonics.reduce(0) { $0 + abs($1.amp) }) }

    /// Normalised radius: below 1 inside, 1 on the surface.
    func depth(_ p: SIMD3<Double>) -> Double {
        let d = p - centre
        let (c, s) = (cos(yaw), sin(yaw))
        var u = SIMD3(c * d.x + s * d.y, -s * d.x + c * d.y, d.z) / axes
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
    func contains(_ p: SIMD3<Double>) -> Bool {
        let d = p - centre
        return (d * d).sum() <= radius * radius && depth(p) < 1
    }

    /// Random low-order harmonics with total amplitude up to `strength`.
    static func harmonics(_ n: Int, strength: Double, rng: inout SeededRandom) -> [(SIMD3<Double>, Double, Double)] {
        (0..<n).map { _ in
            let f = SIMD3(rng.gaussian(), rng.gaussian(), rng.gaussian()) * 1.6
            return (f, rng.uniform(0...(strength / Double(n))), rng.uniform(0...(2 * Double.pi)))
        }
    }
}

/// The random anatomy of one phantom case, in world millimetres (RAS, volume centre at the origin).
///
/// Variation between cases (uniform distributions): body half-widths ±7%; liver and spleen volume
/// ±20% (semi-axes scaled by the cube root), centres ±15 mm along each axis, rotation about z ±10°,
/// smooth surface deformation up to 12% of the radius; 0-3 liver lesions (radius 4-12 mm); and the
/// patient's place in the field of view (table position and scan range): the whole anatomy moves
/// ±15 mm left-right, ±10 mm anterior-posterior and ±25 mm cranio-caudally.
struct PhantomAnatomy: Sendable {
    var bodyA: Double, bodyB: Double
    var liver: Blob, spleen: Blob, stomach: Blob, kidneyR: Blob, kidneyL: Blob
    var lesions: [Blob]
    var bowel: [Blob]
    var aortaXY: SIMD2<Double>, ivcXY: SIMD2<Double>
    var spineXY: SIMD2<Double>
    /// Mean HU of each tissue this case (contrast timing varies).
    var hu: [Tissue: Double]
    /// Where the patient lies in the field of view: the whole anatomy moves by this (mm).
    var offset: SIMD3<Double>

    /// Tissues, in painting order (later wins).
    enum Tissue: Int, CaseIterable, Sendable {
        case air, fat, muscle, bowel, bowelAir, kidney, stomachWall, stomachFluid, stomachAir, liver, lesion, spleen, ivc, aorta, bone, marrow, csf, table
    }

    init(rng: inout SeededRandom) {
        let vary = { (r: inout SeededRandom, x: Double) in x * r.uniform(0.93...1.07) }
        bodyA = vary(&rng, 135); bodyB = vary(&rng, 100)
        let shift = { (r: inout SeededRandom) in SIMD3(r.uniform(-15...15), r.uniform(-15...15), r.uniform(-15...15)) }
        let volume = { (r: inout SeededRandom) in pow(r.uniform(0.8...1.2), 1.0 / 3) }
        let yaw = { (r: inout SeededRandom, base: Double) in base + r.uniform(-10...10) * Double.pi / 180 }
        liver = Blob(centre: SIMD3(0.36 * bodyA, 0.02 * bodyB, 40) + shift(&rng), axes: SIMD3(88, 70, 66) * volume(&rng),
                     yaw: yaw(&rng, 0.12), harmonics: Blob.harmonics(4, strength: 0.12, rng: &rng).map { ($0.0, $0.1, $0.2) }, taper: 0.55)
        spleen = Blob(centre: SIMD3(-0.62 * bodyA, -0.40 * bodyB, 42) + shift(&rng), axes: SIMD3(24, 52, 48) * volume(&rng),
                      yaw: yaw(&rng, -0.55), harmonics: Blob.harmonics(4, strength: 0.12, rng: &rng).map { ($0.0, $0.1, $0.2) })
        stomach = Blob(centre: SIMD3(-0.30 * bodyA + rng.uniform(-8...8), 0.30 * bodyB, 30 + rng.uniform(-10...10)),
                       axes: SIMD3(38, 32, 45) * rng.uniform(0.85...1.15), yaw: yaw(&rng, 0.3),
                       harmonics: Blob.harmonics(3, strength: 0.1, rng: &rng).map { ($0.0, $0.1, $0.2) })
        let kz = -35.0 + rng.uniform(-10...10)
        kidneyR = Blob(centre: SIMD3(0.50 * bodyA, -0.50 * bodyB, kz - 12), axes: SIMD3(24, 28, 52) * rng.uniform(0.9...1.1), yaw: 0.5)
        kidneyL = Blob(centre: SIMD3(-0.50 * bodyA, -0.50 * bodyB, kz + 5), axes: SIMD3(24, 28, 52) * rng.uniform(0.9...1.1), yaw: -0.5)
        spineXY = SIMD2(0, -bodyB + 48)
        aortaXY = SIMD2(-14, -bodyB + 82)
        ivcXY = SIMD2(22, -bodyB + 82)
        let lesionCount = [0, 0, 0, 1, 1, 2, 3][Int.random(in: 0..<7, using: &rng)]
        let l = liver
        lesions = (0..<lesionCount).map { _ in
            // inside the liver body: a point at up to 55% of its semi-axes, towards its right part
            let u = SIMD3(rng.uniform(-0.2...0.55), rng.uniform(-0.5...0.5), rng.uniform(-0.5...0.5)) * l.axes
            let p = l.centre + SIMD3(cos(l.yaw) * u.x - sin(l.yaw) * u.y, sin(l.yaw) * u.x + cos(l.yaw) * u.y, u.z)
            let r = rng.uniform(4...12)
            return Blob(centre: p, axes: SIMD3(r, r, r) * SIMD3(1, rng.uniform(0.8...1.2), rng.uniform(0.8...1.2)),
                        harmonics: Blob.harmonics(2, strength: 0.15, rng: &rng).map { ($0.0, $0.1, $0.2) })
        }
        let (ba, bb) = (bodyA, bodyB)
        bowel = (0..<14).map { _ in
            let p = SIMD3(rng.uniform(-0.6...0.6) * ba, rng.uniform(-0.1...0.6) * bb, rng.uniform(-90...0))
            let r = rng.uniform(10...20)
            return Blob(centre: p, axes: SIMD3(r, r * rng.uniform(0.7...1.3), r * rng.uniform(0.8...1.8)))
        }
        // Portal venous phase: liver and spleen means overlap (spleen slightly brighter on average).
        let contrast = rng.uniform(-15...15)
        hu = [.air: -1000, .fat: -100 + rng.uniform(-10...10), .muscle: 50 + rng.uniform(-5...5), .bowel: 35 + contrast / 2,
              .bowelAir: -900, .kidney: 170 + contrast * 1.5, .stomachWall: 60 + contrast / 2, .stomachFluid: 12, .stomachAir: -950,
              .liver: 104 + contrast + rng.uniform(-8...8), .spleen: 109 + contrast + rng.uniform(-8...8),
              .ivc: 140 + contrast, .aorta: 165 + contrast * 2, .bone: 650 + rng.uniform(-60...60), .marrow: 230 + rng.uniform(-30...30),
              .csf: 15, .table: 250]
        hu[.lesion] = hu[.liver]! - rng.uniform(45...70)
        offset = SIMD3(rng.uniform(-15...15), rng.uniform(-10...10), rng.uniform(-25...25))
    }
}
