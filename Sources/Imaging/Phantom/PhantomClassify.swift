import Foundation

extension PhantomAnatomy {
    /// Height of the diaphragm (mm) above (x, y): two domes, the right one higher, falling away laterally and
    /// steeply posteriorly (the costophrenic recesses, where the lungs reach down behind the liver and spleen).
    @inline(__always) func diaphragm(_ x: Double, _ y: Double) -> Double {
        let sx = bodyA / 165, sy = bodyB / 115
        let dxr = (x - 70 * sx) / (95 * sx), dxl = (x + 70 * sx) / (90 * sx), dy = (y - 5) / (100 * sy)
        let back = dy < 0 ? 75.0 : 45.0
        return max(domeR - 55 * dxr * dxr - back * dy * dy, domeL - 55 * dxl * dxl - back * dy * dy)
    }

    /// The tissue at patient point `p` and the labelled structure it belongs to.
    func classify(_ p: SIMD3<Double>) -> (Tissue, PhantomStructure?) {
        let z = p.z
        let a = bodyA * (1 + 0.07 * min(max(-z / 250, 0), 1)), b = p.y < 0 ? bodyB * 0.93 : bodyB
        let rx = p.x / a, ry = p.y / b
        if rx * rx + ry * ry > 1 {
            let t = p.y + b
            return t < -8 && t > -22 && abs(p.x) < a + 30 ? (.table, nil) : (.air, nil)
        }
        @inline(__always) func inside(_ t: Double) -> Bool {
            let u = p.x / (a - t), v = p.y / (b - t)
            return u * u + v * v <= 1
        }
        if !inside(2.5) { return (.muscle, nil) }  // skin
        if !inside(subcutaneous) { return (.fat, nil) }
        // Spine: vertebral body (cortex, marrow, discs), canal, arch; paraspinal muscles.
        let sy = p.y - spineY
        let vb = SIMD2(p.x / 21, sy / 17), rv = (vb * vb).sum()
        if rv < 1 {
            if z > -250, (z + 400).truncatingRemainder(dividingBy: 34) < 7 { return (.disc, nil) }
            return (rv > 0.72 ? .bone : .marrow, nil)
        }
        let cy = sy + 28, rc = p.x * p.x + cy * cy
        if rc < 81 { return (.csf, nil) }
        if rc < 225 || (abs(p.x) < 5 && cy < 0 && cy > -32) || (abs(cy + 4) < 3.5 && abs(p.x) < 30) { return (.bone, nil) }
        for side in [-1.0, 1.0] {
            let q = SIMD2((p.x - side * 35) / 26, (sy + 30) / 24)
            if (q * q).sum() < 1 { return (.muscle, nil) }
        }
        // Pelvis: iliac wings, sacrum, femoral heads.
        if z < -115 {
            if z > -250, abs(p.x) < 48, sy < 10, sy > -30 - (z + 150) * 0.2 {
                let shell = abs(p.x) > 42 || sy > 4 || sy < -24 - (z + 150) * 0.2
                return (shell ? .bone : .marrow, nil)
            }
            if z > -215 {
                for side in [-1.0, 1.0] {
                    let q = SIMD2((p.x - side * 0.42 * a) / (0.36 * a), (sy - 25) / 48)
                    let r = (q * q).sum().squareRoot()
                    if abs(r - 1) * 0.36 * a < 4 + (z + 215) * 0.02, p.x * side > 0.3 * a, sy < 45 { return (.bone, nil) }
                }
            }
            if z < -270 {
                for side in [-1.0, 1.0] {
                    let q = SIMD3(p.x - side * 0.55 * a, sy - 70, z + 300)
                    let r2 = (q * q).sum()
                    if r2 < 576 { return (r2 > 400 ? .bone : .marrow, nil) }
                }
            }
        }
        let cavityT = subcutaneous + wall
        if !inside(cavityT) {
            // Abdominal wall muscles, with ribs in the upper part (sparing the anterior midline).
            let lowest = p.y > 0 ? domeR - 95 + 35 * min(p.y / b, 1) : -35 + 25 * max(p.y / b, -1)
            if z > lowest, abs(p.x) > 45 || p.y < 0, inside(subcutaneous + 0.15 * wall), !inside(cavityT - 0.15 * wall) {
                // ribs run obliquely (down and forwards), so an axial slice cuts each into a short oval
                let ang = atan2(p.y, abs(p.x))
                let ph = (z + 500 - 55 * ang).truncatingRemainder(dividingBy: 28)
                if ph < 7 { return (ph > 1.5 && ph < 5.5 && inside(subcutaneous + 0.35 * wall) && !inside(cavityT - 0.35 * wall) ? .marrow : .bone, nil) }
            }
            return (.muscle, nil)
        }
        // Psoas muscles alongside the lumbar spine, growing downwards.
        if z < -5, z > -260 {
            let f = min(-z / 160, 1)
            for side in [-1.0, 1.0] {
                let q = SIMD2(p.x - side * (30 + 22 * f), sy - 8 - 12 * f)
                if (q * q).sum() < pow(7 + 17 * f, 2) { return (.muscle, nil) }
            }
        }
        // Aorta and IVC (thorax to the iliac bifurcation), then the iliac vessels.
        let split = -140.0
        let ax = z > split ? aortaXY.x : aortaXY.x + (split - z) * (p.x < aortaXY.x ? -0.45 : 0.45)
        let av = SIMD2(p.x - ax, p.y - aortaXY.y), ar = z > split ? 12.5 : 8.0
        if (av * av).sum() < ar * ar, z > -280 { return (.aorta, .aorta) }
        let vx = z > split - 10 ? ivcXY.x : ivcXY.x + (split - 10 - z) * (p.x < ivcXY.x ? -0.5 : 0.4)
        let iv = SIMD2(p.x - vx, p.y - ivcXY.y), ir = z > split - 10 ? 11.5 : 8.5
        if (iv * iv).sum() < ir * ir, z > -280, z < domeR - 15 { return (.ivc, .ivc) }
        let zd = diaphragm(p.x, p.y)
        if z > zd + 4 {
            if heart.contains(p) { return (heart.depth(p) > 0.82 ? .myocardium : .heartBlood, nil) }
            if abs(p.x + 8) < 30, p.y > spineY + 12 { return (.visceralFat, nil) }
            return (.lung, nil)
        }
        if z > zd - 1 { return (.muscle, nil) }
        // Abdominal organs, in an order that settles their contacts.
        @inline(__always) func kidney(_ blob: Blob, _ s: PhantomStructure, medial: Double) -> Tissue? {
            guard blob.contains(p) else { return nil }
            let d = blob.depth(p), u = blob.local(p)
            if u.x * medial > 0.35, d > 0.55 { return .visceralFat }  // hilum notch
            if d < 0.4 { return .renalPelvis }
            return d > 0.78 ? .kidneyCortex : .kidneyMedulla
        }
        if let t = kidney(kidneyR, .kidneyRight, medial: -1) { return (t, t == .visceralFat ? nil : .kidneyRight) }
        if let t = kidney(kidneyL, .kidneyLeft, medial: 1) { return (t, t == .visceralFat ? nil : .kidneyLeft) }
        if spleen.contains(p), !spleenHilum.contains(p) { return (.spleen, .spleen) }
        if gallbladder.contains(p) { return (.gallbladder, nil) }
        if liverLobes.contains(where: { $0.contains(p) }) {
            if lesions.contains(where: { $0.contains(p) }) { return (.lesion, .lesion) }
            if portal.contains(where: { $0.contains(p) }) { return (.portalVein, .liver) }
            if hepaticVeins.contains(where: { $0.contains(p) }) { return (.hepaticVein, .liver) }
            return (.liver, .liver)
        }
        let sd = stomach.depth(p)
        if sd < 1 {
            if sd > 0.84 { return (.stomachWall, .stomach) }
            let level = stomach.point(1).y + stomach.radius(1) * 0.45
            if p.y > level { return (.stomachAir, .stomach) }
            return (stomachContrast ? .oralContrast : .stomachFluid, .stomach)
        }
        if splenicVein.contains(p) || portal[0].contains(p) { return (.portalVein, nil) }
        if pancreas.contains(p) { return (.pancreas, nil) }
        let cd = colon.depth(p)
        if cd < 1 {
            if cd > 0.85 { return (.bowelWall, nil) }
            return (bowelTexture.value(p) > 0.35 ? .bowelAir : .stool, nil)
        }
        if z < -10 {
            for blob in smallBowel where blob.contains(p) { return (blob.depth(p) > 0.8 ? .bowelWall : .bowelFluid, nil) }
        }
        if z < -240, bladder.contains(p) { return (.bladder, nil) }
        return (.visceralFat, nil)
    }

    /// HU at `p` of a voxel of `tissue`: the patient's mean plus parenchymal texture.
    @inline(__always) func hu(_ tissue: Tissue, at p: SIMD3<Double>) -> Double {
        switch tissue {
        case .liver: return hu[tissue.rawValue] + 4 * liverTexture.value(p)
        case .spleen: return hu[tissue.rawValue] + spleenHeterogeneity * spleenTexture.value(p)
        default: return hu[tissue.rawValue]
        }
    }

    /// Volume in mL of the voxels of a 4 mm lattice over `box` whose structure satisfies `member`.
    func measure(_ lower: SIMD3<Double>, _ upper: SIMD3<Double>, step: Double = 4, member: (PhantomStructure?) -> Bool) -> Double {
        var n = 0
        var z = lower.z
        while z <= upper.z {
            var y = lower.y
            while y <= upper.y {
                var x = lower.x
                while x <= upper.x {
                    if member(classify(SIMD3(x, y, z)).1) { n += 1 }
                    x += step
                }
                y += step
            }
            z += step
        }
        return Double(n) * step * step * step / 1000
    }

    /// Scales the liver and the spleen about their diaphragmatic anchors until their volumes (after the cuts by
    /// the wall, the diaphragm and their neighbours) come close to ``liverTarget`` and ``spleenTarget``.
    mutating func calibrate() {
        let liverAnchor = SIMD3(liverLobes[0].centre.x, liverLobes[0].centre.y, domeR)
        for _ in 0..<3 {
            let r = liverLobes.map { $0.radius }.max()!
            let lo = liverLobes.map { $0.centre }.reduce(SIMD3(repeating: .infinity)) { pointwiseMin($0, $1) } - r
            let hi = liverLobes.map { $0.centre }.reduce(SIMD3(repeating: -.infinity)) { pointwiseMax($0, $1) } + r
            let v = measure(lo, hi) { $0 == .liver || $0 == .lesion }
            let f = min(max(pow(liverTarget / max(v, 1), 1.0 / 3), 0.75), 1.35)
            if abs(f - 1) < 0.02 { break }
            liverLobes = liverLobes.map { $0.scaled(f, about: liverAnchor) }
            lesions = lesions.map { $0.scaled(f, about: liverAnchor) }
        }
        let spleenAnchor = spleen.centre + SIMD3(0, 0, spleen.axes.z * 0.6)
        for _ in 0..<4 {
            let r = spleen.radius
            let v = measure(spleen.centre - r, spleen.centre + r, step: 3) { $0 == .spleen }
            let f = min(max(pow(spleenTarget / max(v, 1), 1.0 / 3), 0.6), 1.6)
            if abs(f - 1) < 0.02 { break }
            spleen = spleen.scaled(f, about: spleenAnchor)
            spleenHilum = spleenHilum.scaled(f, about: spleenAnchor)
        }
    }
}
