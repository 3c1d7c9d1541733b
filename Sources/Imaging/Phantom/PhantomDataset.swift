import Foundation
import Tensor

/// How a phantom set is laid out on disk and numbered.
public enum PhantomLayout: String, Sendable, CaseIterable {
    /// MSD: dataset.json, imagesTr/labelsTr/imagesTs; liver set 1 liver 2 tumour (Task03), spleen
    /// set 1 spleen (Task09), both: 1 liver, 2 tumour, 3 spleen. Written in LPS orientation.
    case msd
    /// BTCV: img/imgNNNN.nii.gz and label/labelNNNN.nii.gz with BTCV numbers (1 spleen, 2 right
    /// kidney, 3 left kidney, 6 liver, 7 stomach, 8 aorta, 9 IVC). Written in RAS orientation.
    case btcv
}

/// Which organs a phantom set's labels annotate (every image contains all organs).
public enum PhantomAnnotation: String, Sendable, CaseIterable {
    /// Liver (and its lesions) only.
    case liver
    /// Spleen only.
    case spleen
    /// Every structure the layout numbers.
    case all
}

/// Writes a phantom data set: `cases` labelled cases (and `testCases` unlabelled MSD test images).
public struct PhantomDatasetWriter: Sendable {
    /// The volume generator (size, spacing, noise).
    public var generator: PhantomGenerator
    /// Layout and numbering.
    public var layout: PhantomLayout
    /// Annotated organs.
    public var annotate: PhantomAnnotation
    /// Seed of the series; case `n` depends only on the seed and `n`.
    public var seed: UInt64

    /// A writer.
    public init(generator: PhantomGenerator = PhantomGenerator(), layout: PhantomLayout, annotate: PhantomAnnotation, seed: UInt64) {
        self.generator = generator
        self.layout = layout
        self.annotate = annotate
        self.seed = seed
    }

    /// The label number a structure gets in this set (0 when not annotated).
    public func labelValue(_ s: PhantomStructure) -> Int {
        let liverOn = annotate != .spleen, spleenOn = annotate != .liver, all = annotate == .all
        switch (layout, s) {
        case (.msd, .liver): return liverOn ? 1 : 0
        case (.msd, .lesion): return liverOn ? 2 : 0
        case (.msd, .spleen): return spleenOn ? (all ? 3 : 1) : 0
        case (.msd, _): return 0
        case (.btcv, .liver), (.btcv, .lesion): return liverOn ? 6 : 0
        case (.btcv, .spleen): return spleenOn ? 1 : 0
        case (.btcv, .kidneyRight): return all ? 2 : 0
        case (.btcv, .kidneyLeft): return all ? 3 : 0
        case (.btcv, .stomach): return all ? 7 : 0
        case (.btcv, .aorta): return all ? 8 : 0
        case (.btcv, .ivc): return all ? 9 : 0
        }
    }

    /// The `--labels` mapping that reads this set into federation numbering.
    public var labelMapping: String {
        switch (layout, annotate) {
        case (.msd, .liver): "1:liver,2:liver"
        case (.msd, .spleen): "1:spleen"
        case (.msd, .all): "1:liver,2:liver,3:spleen"
        case (.btcv, .liver): "6:liver,*:background"
        case (.btcv, .spleen): "1:spleen,*:background"
        case (.btcv, .all): "1:spleen,6:liver,*:background"
        }
    }

    /// The label volume of a generated case in this set's numbering.
    public func labels(of c: PhantomCase) -> Volume {
        let lut = PhantomStructure.allCases.map { Float(labelValue($0)) }
        return Volume(grid: c.image.grid, voxels: c.structures.map { $0 < 0 ? 0 : lut[Int($0)] })
    }

    /// Writes the set into `dir` (created if needed) and returns the files written.
    /// `progress` is called after each case with (done, total).
    public func write(to dir: URL, cases: Int, testCases: Int = 0,
                      progress: (Int, Int) -> Void = { _, _ in }) throws -> [URL] {
        precondition(cases >= 1 && testCases >= 0, "PhantomDatasetWriter: need at least one case")
        let fm = FileManager.default
        let orientation = layout == .msd ? "LPS" : "RAS"
        let prefix = annotate == .all ? "abdomen" : annotate.rawValue
        let (imgDir, labDir) = layout == .msd ? ("imagesTr", "labelsTr") : ("img", "label")
        for d in [imgDir, labDir] + (layout == .msd && testCases > 0 ? ["imagesTs"] : []) {
            try fm.createDirectory(at: dir.appendingPathComponent(d), withIntermediateDirectories: true)
        }
        var written = [URL](), training = [[String: String]](), test = [String]()
        for n in 0..<(cases + testCases) {
            let c = generator.generate(seed: seed, index: n, orientation: orientation)
            let isTest = n >= cases && layout == .msd
            let name = layout == .msd ? "\(prefix)_\(n).nii.gz" : String(format: "%04d.nii.gz", n + 1)
            let imageURL = dir.appendingPathComponent(isTest ? "imagesTs" : imgDir).appendingPathComponent(layout == .msd ? name : "img" + name)
            try NIfTI.write(c.image, to: imageURL, datatype: .int16)
            written.append(imageURL)
            if isTest { test.append("./imagesTs/\(name)") } else {
                let labelURL = dir.appendingPathComponent(labDir).appendingPathComponent(layout == .msd ? name : "label" + name)
                try NIfTI.write(labels(of: c), to: labelURL, datatype: .uint8)
                written.append(labelURL)
                training.append(["image": "./imagesTr/\(name)", "label": "./labelsTr/\(name)"])
            }
            progress(n + 1, cases + testCases)
        }
        if layout == .msd {
            let names: [String: String] = switch annotate {
            case .liver: ["0": "background", "1": "liver", "2": "cancer"]
            case .spleen: ["0": "background", "1": "spleen"]
            case .all: ["0": "background", "1": "liver", "2": "cancer", "3": "spleen"]
            }
            let manifest: [String: Any] = [
                "name": "SegVizPhantom-\(annotate.rawValue)", "description": "Synthetic abdominal CT phantoms (segviz phantom, seed \(seed))",
                "tensorImageSize": "3D", "modality": ["0": "CT"], "labels": names,
                "numTraining": training.count, "numTest": test.count, "training": training, "test": test,
            ]
            let url = dir.appendingPathComponent("dataset.json")
            try AtomicFile.write(path: url.path, contents: JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys]))
            written.append(url)
        }
        let info: [String: Any] = ["generator": "segviz phantom", "seed": seed, "layout": layout.rawValue, "annotate": annotate.rawValue,
                                   "cases": cases, "testCases": testCases, "dims": generator.dims,
                                   "spacing": [generator.spacing.x, generator.spacing.y, generator.spacing.z], "labels": labelMapping]
        let infoURL = dir.appendingPathComponent("segviz-phantom.json")
        try AtomicFile.write(path: infoURL.path, contents: JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys]))
        return written + [infoURL]
    }
}
