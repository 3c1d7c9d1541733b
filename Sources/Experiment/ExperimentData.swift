import Foundation
import Imaging

/// One training site's preprocessed data and the organ its labels annotate.
public struct SiteData: Sendable {
    /// Site id.
    public let id: String
    /// The annotated organ.
    public let organ: Organ
    /// Preprocessed training cases (federation labels).
    public let set: TrainingSet
    /// Seed of this site's patch sampling, derived from the training seed and the id.
    public let samplingSeed: UInt64
}

/// The phantom sites and external set of an experiment, written as NIfTI data sets under `DIR/data` (MSD layout
/// for the sites, BTCV layout for the external set) and read back through the same loaders a node uses.
public struct ExperimentData: Sendable {
    /// Training sites, in configuration order.
    public let sites: [SiteData]
    /// External cases with every organ labelled (federation numbering), on their own grids.
    public let external: [LabelledVolume]
    /// Preprocessing every setup trains and infers with.
    public let preprocessing: Preprocessing

    /// Generates (or regenerates: phantoms are deterministic) the data sets under `folder` and loads them.
    public static func prepare(_ config: ExperimentConfig, in folder: URL, log: (String) -> Void) throws -> ExperimentData {
        let s = config.phantom.spacing
        let gen = PhantomGenerator(dims: config.phantom.size, spacing: SIMD3(s, s, s))
        let pre = Preprocessing(spacing: SIMD3(s, s, s),
                                window: HUWindow(lower: Float(config.training.window[0]), upper: Float(config.training.window[1])))
        var sites: [SiteData] = []
        for (n, site) in config.sites.enumerated() {
            let organ: Organ, annotation: PhantomAnnotation
            switch site.organ {
            case "liver": (organ, annotation) = (.liver, .liver)
            case "spleen": (organ, annotation) = (.spleen, .spleen)
            default:
                throw ExperimentError.config(path: "(configuration)", field: "sites.\(n).organ",
                                             problem: "'\(site.organ)' must be liver or spleen")
            }
            let writer = PhantomDatasetWriter(generator: gen, layout: .msd, annotate: annotation, seed: site.seed)
            let dir = folder.appendingPathComponent(site.id)
            _ = try writer.write(to: dir, cases: site.cases)
            let set = try TrainingSet.load(try Dataset.open(dir), mapping: try LabelMapping(parsing: writer.labelMapping),
                                           preprocessing: pre)
            var h = config.training.seed
            for b in site.id.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            sites.append(SiteData(id: site.id, organ: organ, set: set, samplingSeed: h))
            log("site \(site.id): \(set.items.count) \(site.organ)-only case(s)")
        }
        let writer = PhantomDatasetWriter(generator: gen, layout: .btcv, annotate: .all, seed: config.external.seed)
        let dir = folder.appendingPathComponent("external")
        _ = try writer.write(to: dir, cases: config.external.cases)
        let ds = try Dataset.open(dir)
        let mapping = try LabelMapping(parsing: writer.labelMapping)
        let external = try ds.training.map { try ds.load($0, mapping: mapping) }
        log("external set: \(external.count) BTCV-style case(s), liver and spleen labelled")
        return ExperimentData(sites: sites, external: external, preprocessing: pre)
    }
}
