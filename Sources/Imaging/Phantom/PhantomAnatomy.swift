import Foundation

/// The random anatomy of one phantom patient, in the patient frame: millimetres, x to the patient's right,
/// y anterior, z superior (RAS), body axis at x = y = 0, z = 0 at the top of L1.
///
/// Organs are deformed anatomical templates: the liver is a right lobe whose dome fills the right
/// hemidiaphragm, a tapering left lobe across the midline (reaching over the stomach towards the spleen in
/// about a quarter of patients) and a caudate lobe by the IVC, cut by the body wall and the diaphragm, with
/// portal and hepatic veins inside and the gallbladder under it; the spleen is a crescent (an ellipsoid with a
/// concave hilum) posterolateral on the left under the diaphragm, against the ribs and the left kidney's upper
/// pole. Neighbours: lungs above the domes (deeper posteriorly), heart, stomach (gas, fluid or oral contrast),
/// kidneys (cortex, medulla, pelvis), pancreas, aorta, IVC, colon and small bowel, spine, ribs, psoas, pelvis,
/// bladder, subcutaneous and visceral fat. Patient variation: body width 250-450 mm, subcutaneous fat, liver
/// 1.0-2.4 L and spleen 50 mL to 1.3 L (calibrated, see ``calibrate``), positions, shapes, contrast phase,
/// fatty liver.
struct PhantomAnatomy: Sendable {
    /// Body half-width and half-depth (mm) at z = 0.
    var bodyA: Double, bodyB: Double
    /// Subcutaneous fat and muscle wall thickness (mm).
    var subcutaneous: Double, wall: Double
    /// Diaphragm dome tops, right and left (mm).
    var domeR: Double, domeL: Double
    var liverLobes: [Blob], spleen: Blob, spleenHilum: Blob, gallbladder: Blob
    var kidneyR: Blob, kidneyL: Blob, heart: Blob, bladder: Blob
    var stomach: Tube, pancreas: Tube, colon: Tube, portal: [Tube], hepaticVeins: [Tube], splenicVein: Tube
    var smallBowel: [Blob]
    var lesions: [Blob]
    var aortaXY: SIMD2<Double>, ivcXY: SIMD2<Double>, spineY: Double
    /// Stomach contents: 0 gas and fluid, 1 oral contrast and gas.
    var stomachContrast: Bool
    var phase: ContrastPhase
    var fattyLiver: Bool
    /// Mean HU of each tissue for this patient.
    var hu: [Double]
    /// Parenchymal textures (HU amplitude applied in the classifier).
    var liverTexture: Texture, spleenTexture: Texture, bowelTexture: Texture
    /// Amplitude of the spleen's arciform texture (large in the arterial phase).
    var spleenHeterogeneity: Double
    /// Target organ volumes (mL) the calibration aimed at.
    var liverTarget: Double, spleenTarget: Double

    init(rng: inout SeededRandom, phase forced: ContrastPhase? = nil) {
        // Body: width 250-450 mm, depth 60-80% of the width.
        bodyA = rng.uniform(125...225)
        bodyB = bodyA * rng.uniform(0.62...0.8)
        let big = (bodyA - 125) / 100  // 0 (slim) ... 1 (large)
        subcutaneous = 6 + big * 30 * rng.uniform(0.5...1.3)
        wall = rng.uniform(9...15)
        // Organ positions scale with the cavity, damped (obese patients' extra width is mostly fat).
        let ca = bodyA - subcutaneous - wall, cb = bodyB - subcutaneous - wall
        let sx = 1 + 0.7 * (ca / 125 - 1), sy = 1 + 0.7 * (cb / 78 - 1)
        let s = { (x: Double, y: Double, z: Double) in SIMD3(x * sx, y * sy, z) }
        let jit = { (r: inout SeededRandom, m: Double) in SIMD3(r.uniform(-m...m), r.uniform(-m...m), r.uniform(-m...m)) }
        domeR = 100 + rng.uniform(-15...15)
        domeL = domeR - rng.uniform(5...22)
        spineY = -bodyB + subcutaneous + 62
        aortaXY = SIMD2(-16 * sx + rng.uniform(-5...5), spineY + 36)
        ivcXY = SIMD2(24 * sx + rng.uniform(-4...4), spineY + 40)
        let harm = { (r: inout SeededRandom, n: Int, k: Double) in Blob.harmonics(n, strength: k, rng: &r) }

        // Liver: right lobe under the right dome, left lobe across the midline, caudate by the IVC.
        let reach = rng.uniform(0...1) < 0.25 ? rng.uniform(1.25...1.6) : rng.uniform(0.7...1.15)
        let rightLobe = Blob(centre: s(72, 2, 0) + SIMD3(0, 0, domeR - 72) + jit(&rng, 8), axes: SIMD3(88 * sx, 100 * sy, 92),
                             yaw: rng.uniform(-0.15...0.15), pitch: rng.uniform(-0.15...0.15), harmonics: harm(&rng, 4, 0.12))
        let leftLobe = Blob(centre: s(-8 - 22 * (reach - 1), 46, 0) + SIMD3(0, 0, domeL - 58) + jit(&rng, 6),
                            axes: SIMD3(70 * sx * reach, 34 * sy, 42), yaw: rng.uniform(-0.25...0.1),
                            harmonics: harm(&rng, 3, 0.1), taper: rng.uniform(0.45...0.7))
        let caudate = Blob(centre: SIMD3(ivcXY.x - 16, ivcXY.y + 14, domeR - 90), axes: SIMD3(22, 20, 38), harmonics: harm(&rng, 2, 0.1))
        liverLobes = [rightLobe, leftLobe, caudate]
        gallbladder = Blob(centre: s(36, 42, 0) + SIMD3(0, 0, domeR - 150) + jit(&rng, 6),
                           axes: SIMD3(15, 34, 16) * rng.uniform(0.7...1.2), yaw: rng.uniform(0.7...1.3), pitch: rng.uniform(-0.5...0),
                           harmonics: harm(&rng, 2, 0.08))

        // Spleen: a crescent along the posterolateral left wall, its long axis tilted (upper pole posterior).
        let theta = rng.uniform(3.55...3.85)  // angle of its place on the cavity ellipse, posterolateral left
        let wallPoint = SIMD3(cos(theta) * ca, sin(theta) * cb, 0)
        var inward = SIMD3(-cos(theta) / ca, -sin(theta) / cb, 0)
        inward /= (inward * inward).sum().squareRoot()
        let spleenCentre = wallPoint + inward * 24 + SIMD3(0, 0, domeL - 62 + rng.uniform(-8...8))
        let tangentYaw = atan2(cb * cos(theta), -ca * sin(theta))
        spleen = Blob(centre: spleenCentre, axes: SIMD3(52, 22, 48), yaw: tangentYaw + rng.uniform(-0.2...0.2),
                      pitch: rng.uniform(0.1...0.45), harmonics: harm(&rng, 4, 0.12))
        spleenHilum = Blob(centre: spleenCentre + inward * 30, axes: SIMD3(40, 20, 34), yaw: tangentYaw)

        // Kidneys: beans with the hilum facing anteromedially, the left one higher, upper poles posterior.
        let kz = -28 + rng.uniform(-12...12)
        kidneyR = Blob(centre: s(62, 0, kz - 14) + SIMD3(0, spineY + 8, 0), axes: SIMD3(26, 30, 56) * rng.uniform(0.88...1.12),
                       yaw: -0.5, pitch: -0.25, harmonics: harm(&rng, 2, 0.06))
        kidneyL = Blob(centre: s(-62, 0, kz) + SIMD3(0, spineY + 10, 0), axes: SIMD3(26, 30, 56) * rng.uniform(0.88...1.12),
                       yaw: 0.5, pitch: -0.25, harmonics: harm(&rng, 2, 0.06))
        heart = Blob(centre: s(-22, 40, 0) + SIMD3(0, 0, domeL + 48), axes: SIMD3(66, 50, 56) * rng.uniform(0.9...1.1), yaw: 0.6)
        bladder = Blob(centre: SIMD3(0, 35 * sy, -285), axes: SIMD3(45, 35, 35) * rng.uniform(0.6...1.2))

        // Stomach: fundus under the left dome, body down the left anterior abdomen, antrum and pylorus to the right.
        let fill = rng.uniform(0.7...1.15)
        stomach = Tube(points: [s(-52, 2, 0) + SIMD3(0, 0, domeL - 28), s(-55, 38, 0) + SIMD3(0, 0, domeL - 78),
                                s(-12, 58, 0) + SIMD3(0, 0, domeL - 118), s(22, 40, 0) + SIMD3(0, 0, domeL - 122)],
                       radii: [30 * fill, 27 * fill, 19 * fill, 11])
        stomachContrast = rng.uniform(0...1) < 0.25
        let pz = -30 + rng.uniform(-10...10)
        pancreas = Tube(points: [s(32, 8, pz - 12), s(6, 26, pz), s(-30, 16, pz + 8), s(-68, -12, pz + 16)],
                        radii: [17, 12, 12, 10].map { $0 * rng.uniform(0.8...1.15) })
        splenicVein = Tube(points: [s(4, 14, pz + 2), s(-30, 6, pz + 8), s(-68, -22, pz + 16)], radii: [6, 5, 4.5])
        // Portal vein from the confluence up into the hilum, branching right and left; hepatic veins to the IVC.
        let hilum = s(34, 10, 0) + SIMD3(0, 0, domeR - 112)
        portal = [Tube(points: [s(6, 14, pz + 2), hilum], radii: [7, 7]),
                  Tube(points: [hilum, s(70, 0, 0) + SIMD3(0, 0, domeR - 100), s(100, -15, 0) + SIMD3(0, 0, domeR - 90)], radii: [6, 4.5, 2.5]),
                  Tube(points: [hilum, s(0, 40, 0) + SIMD3(0, 0, domeR - 95), s(-30, 55, 0) + SIMD3(0, 0, domeL - 70)], radii: [5, 4, 2.5])]
        let top = SIMD3(ivcXY.x, ivcXY.y, domeR - 22), dr = domeR
        var veins = [Tube]()
        for tip in [s(95, -10, 0), s(45, 55, 0), s(-20, 50, 0)] {
            veins.append(Tube(points: [top, tip + SIMD3(0, 0, dr - 60 + rng.uniform(-10...10))], radii: [6, 2.5]))
        }
        hepaticVeins = veins
        colon = Tube(points: [s(92, 5, -150), s(95, 8, -60), s(82, 30, -25), s(40, 68, -48), s(-40, 64, -40),
                              s(-88, 20, domeL - 105), s(-100, -6, -40), s(-98, 0, -150), s(-50, 30, -205), s(0, -50 / sy, -255)],
                      radii: [26, 24, 22, 20, 20, 18, 18, 18, 17, 17].map { $0 * rng.uniform(0.8...1.15) })
        let (ssx, ssy) = (sx, sy)
        smallBowel = (0..<26).map { _ in
            let r = rng.uniform(11...18)
            return Blob(centre: SIMD3(rng.uniform(-80...80) * ssx, rng.uniform(-10...70) * ssy, rng.uniform(-215 ... -20)),
                        axes: SIMD3(r, r * rng.uniform(0.7...1.3), r * rng.uniform(0.8...1.6)), yaw: rng.uniform(0...3))
        }
        let lesionCount = [0, 0, 0, 0, 1, 1, 2, 3][Int.random(in: 0..<8, using: &rng)]
        lesions = (0..<lesionCount).map { _ in
            let p = rightLobe.centre + SIMD3(rng.uniform(-0.4...0.4), rng.uniform(-0.4...0.4), rng.uniform(-0.3...0.4)) * rightLobe.axes
            let r = rng.uniform(5...18)
            return Blob(centre: p, axes: SIMD3(r, r * rng.uniform(0.8...1.2), r * rng.uniform(0.8...1.2)), harmonics: Blob.harmonics(2, strength: 0.15, rng: &rng))
        }

        // Contrast phase and HU: means from ``TissueHU`` with the patient's own timing and physiology.
        let p = forced ?? { () -> ContrastPhase in
            let u = rng.uniform(0...1)
            return u < 0.2 ? .unenhanced : u < 0.4 ? .arterial : u < 0.85 ? .portalVenous : .delayed
        }()
        phase = p
        fattyLiver = rng.uniform(0...1) < 0.2
        let enhancement = rng.uniform(0.85...1.15)  // cardiac output, dose, timing
        let unenhancedMean = Dictionary(uniqueKeysWithValues: Tissue.allCases.map { ($0, TissueHU.mean($0, .unenhanced)) })
        var hu = [Double](repeating: 0, count: Tissue.allCases.count)
        for t in Tissue.allCases {
            let base = unenhancedMean[t]!, m = TissueHU.mean(t, p)
            hu[t.rawValue] = base + (m - base) * enhancement
        }
        hu[Tissue.liver.rawValue] += rng.uniform(-6...6)
        hu[Tissue.spleen.rawValue] += rng.uniform(-6...6)
        hu[Tissue.fat.rawValue] += rng.uniform(-12...12)
        hu[Tissue.visceralFat.rawValue] = hu[Tissue.fat.rawValue] + rng.uniform(0...10)
        hu[Tissue.bone.rawValue] += rng.uniform(-150...150)
        hu[Tissue.oralContrast.rawValue] += rng.uniform(-100...120)
        if fattyLiver {
            // Steatosis: unenhanced liver 5-40 HU, and darker than the spleen in every phase (Kodama 2007, Boyce 2010).
            let drop = rng.uniform(25...55)
            hu[Tissue.liver.rawValue] = min(hu[Tissue.liver.rawValue] - drop, hu[Tissue.spleen.rawValue] - 12)
        }
        hu[Tissue.lesion.rawValue] = hu[Tissue.liver.rawValue] - rng.uniform(25...60)
        self.hu = hu
        liverTexture = Texture(count: 4, wavelengthMM: 25...60, rng: &rng)
        spleenTexture = Texture(count: 5, wavelengthMM: 12...30, rng: &rng)
        bowelTexture = Texture(count: 6, wavelengthMM: 8...20, rng: &rng)
        spleenHeterogeneity = p == .arterial ? rng.uniform(30...50) : 3

        // Volumes: liver 1.0-2.4 L (Heinemann et al., Liver Transpl Surg 1999;5:366-368: standard adult liver
        // volume ~1.0-2.5 L); spleen 50 mL-1.3 L: normal 107-314 mL (Prassopoulos et al., Eur Radiol 1997;7:246-248),
        // small spleens down to 50 mL, splenomegaly beyond 1 L in some.
        liverTarget = 1000 + 1400 * min(max(0.5 * big + rng.uniform(-0.25...0.75), 0), 1)
        let u = rng.uniform(0...1)
        spleenTarget = u < 0.1 ? rng.uniform(50...110) : u < 0.8 ? rng.uniform(110...340) : rng.uniform(340...1300)
        calibrate()
    }
}
