import Foundation

/// When the phantom's CT was acquired relative to an intravenous contrast injection.
public enum ContrastPhase: String, Sendable, CaseIterable {
    /// No contrast: liver brighter than spleen unless fatty, blood darker than both.
    case unenhanced
    /// Late arterial (~35 s): bright aorta and renal cortex, heterogeneous (arciform) spleen.
    case arterial
    /// Portal venous (~70 s): the phase of most abdominal CT and of MSD Task09 (spleen) and Task03 (liver).
    case portalVenous = "portal-venous"
    /// Delayed (3-5 min): enhancement washing out, renal pelvis opacified.
    case delayed
}

/// Tissues the phantom paints; every voxel is one of them.
enum Tissue: Int, CaseIterable, Sendable {
    case air, lung, fat, visceralFat, muscle, bone, marrow, disc, csf, table
    case liver, lesion, spleen, kidneyCortex, kidneyMedulla, renalPelvis
    case stomachWall, stomachFluid, stomachAir, oralContrast, pancreas, gallbladder
    case aorta, ivc, portalVein, hepaticVein, heartBlood, myocardium
    case bowelWall, bowelFluid, bowelAir, stool, bladder
}

/// Mean Hounsfield units per tissue and phase (before the patient's own variation, texture, blur and noise).
///
/// Sources of the ranges (the means below sit inside them; `PhantomTests` checks the generated images
/// against the same ranges):
/// - unenhanced liver 55-65 HU, spleen ~8-10 HU darker than a normal liver; liver below 40-48 HU and darker than
///   the spleen in steatosis: Kodama et al., AJR 2007;188:1307-1312; Boyce et al., AJR 2010;194:623-628.
/// - hepatic enhancement ~50 HU above unenhanced in the portal venous phase (liver ~100-130 HU), aortic peak
///   250-350 HU in the arterial phase and ~150-180 HU portal venous: Bae, Radiology 2010;256:32-61.
/// - heterogeneous (arciform) splenic enhancement in the arterial phase, homogeneous from the portal phase on:
///   Glazer et al., AJR 1981;137:343-346.
/// - pancreatic parenchyma ~110-130 HU in the pancreatic (late arterial) phase, lower in the portal phase:
///   Lu et al., Radiology 1996;199:697-701.
/// - renal corticomedullary (cortex ~150-200 HU, medulla much lower), nephrographic and excretory phases:
///   Yuh & Cohan, AJR 1999;173:747-755.
/// - adipose tissue -150...-50 HU (mean about -100): Yoshizumi et al., Radiology 1999;211:283-286.
/// - skeletal muscle about 40-60 HU unenhanced: Aubrey et al., Acta Physiol 2014;210:489-497.
enum TissueHU {
    /// (unenhanced, arterial, portal venous, delayed).
    static let table: [Tissue: (Double, Double, Double, Double)] = [
        .air: (-1000, -1000, -1000, -1000), .lung: (-850, -850, -850, -850),
        .fat: (-100, -100, -100, -100), .visceralFat: (-95, -95, -95, -95),
        .muscle: (50, 60, 65, 60), .bone: (750, 750, 750, 750), .marrow: (230, 240, 245, 240),
        .disc: (80, 85, 90, 90), .csf: (10, 10, 12, 12), .table: (120, 120, 120, 120),
        .liver: (60, 78, 112, 92), .lesion: (30, 45, 55, 55), .spleen: (50, 125, 120, 96),
        .kidneyCortex: (35, 180, 165, 125), .kidneyMedulla: (35, 75, 155, 135), .renalPelvis: (8, 8, 10, 280),
        .stomachWall: (45, 95, 90, 75), .stomachFluid: (12, 12, 12, 12), .stomachAir: (-950, -950, -950, -950),
        .oralContrast: (280, 280, 280, 280), .pancreas: (45, 120, 95, 80), .gallbladder: (10, 10, 10, 12),
        .aorta: (42, 300, 170, 115), .ivc: (42, 85, 150, 112), .portalVein: (42, 140, 175, 112),
        .hepaticVein: (42, 60, 155, 112), .heartBlood: (42, 280, 165, 115), .myocardium: (45, 115, 100, 85),
        .bowelWall: (45, 95, 90, 75), .bowelFluid: (15, 15, 15, 15), .bowelAir: (-900, -900, -900, -900),
        .stool: (-40, -40, -40, -40), .bladder: (8, 8, 10, 250),
    ]

    /// The mean HU of `tissue` in `phase`.
    static func mean(_ tissue: Tissue, _ phase: ContrastPhase) -> Double {
        let t = table[tissue]!
        switch phase {
        case .unenhanced: return t.0
        case .arterial: return t.1
        case .portalVenous: return t.2
        case .delayed: return t.3
        }
    }
}
