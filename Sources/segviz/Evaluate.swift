import ArgumentParser
import Federation
import Foundation
import Imaging
import NN
import Tensor

/// `segviz evaluate`: Dice (and HD95) per organ per case of a trained model, with the atlas baseline.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model on a labelled data set: Dice and HD95 per organ per case and the mean, beside the atlas baseline.",
        discussion: """
        Organs scored: those the model was trained on that the data set's --labels also annotate. Predictions are made on
        each image's own grid (sliding window, Gaussian blending, probabilities resampled back). --labels defaults to the
        mapping stored by segviz phantom in the data set's segviz-phantom.json. A signed global model of a federation
        is verified first against --pubkey or --federation (the aggregator's key) and refused if it does not verify.
        A labelled liver or spleen on the unexpected side of the body (per the header) is reported as a warning: the
        file's left-right axis is then probably mirrored.
        """
    )

    @Option(help: "Model file written by segviz train, or a signed global model (MODEL.minisig beside it).") var model: String
    @Option(help: "The aggregator's public key (a signed global model is verified with it first).") var pubkey: String?
    @Option(help: "Federation file (alternative to --pubkey: its aggregator key).") var federation: String?
    @Option(help: "Labelled data set folder.") var dataset: String
    @Option(help: "Label mapping of the data set (see segviz train --help).") var labels: String?
    @Option(help: "Sliding-window overlap (0.5: half-window steps, as nnU-Net; MONAI's default is 0.25).") var overlap: Double = GlobalModelInference.defaultOverlap
    @Option(help: "Worker threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(inversion: .prefixedNo, help: "Keep only the largest connected component of each organ (MONAI KeepLargestConnectedComponent, 26-connected), as segviz infer does; --no-keep-largest scores the raw argmax.")
    var keepLargest = true
    @Option(help: "Write each predicted mask (federation labels, uint8, the image's grid) into this folder.") var predictions: String?
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Flag(help: "Leave out cases with errors (listed) instead of refusing the data set.") var skipBadCases = false

    struct CaseResult: Codable {
        var id: String
        var model: [String: OrganScore]
        var atlas: [String: OrganScore]?
    }

    struct Report: Codable {
        var model: String
        var dataset: String
        var organs: [String]
        var cases: [CaseResult]
        var meanDice: [String: Double]
        var atlasMeanDice: [String: Double]?
        var skipped: [String]
    }

    func validate() throws {
        if pubkey != nil && federation != nil { throw ValidationError("give at most one of --pubkey or --federation") }
    }

    /// The model to score: its organs, a segmenter of whole images, and where an atlas may be found.
    struct Scorer {
        var organs: Set<Organ>
        var segment: (Volume) throws -> Volume
        var atlas: Atlas?
    }

    /// A `segviz train` model, or a signed global model verified first (refused without a key or when it does not verify).
    func loadScorer() throws -> Scorer {
        let modelURL = URL(fileURLWithPath: model)
        let file = try SafetensorsFile.read(path: modelURL.path)
        if file.metadata["format"] == ModelArtifact.formatValue {
            guard pubkey != nil || federation != nil else {
                throw EvaluateError(message: "\(model) is a signed global model: give --pubkey or --federation to verify it first")
            }
            let verified = try VerifiedModel.open(path: model, publicKey: try TrustedKey.load(pubkey: pubkey, federation: federation))
            let patch = (verified.manifest["patch"]).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Int] } ?? [96, 96, 96]
            let inference = try GlobalModelInference(verified: verified, roi: patch, overlap: overlap, keepLargestComponent: false)  // applied below, for both kinds of model
            let organs = Set(try verified.model().organs.compactMap { Organ(name: $0) })
            print("verified global model round \(verified.manifest["round"] ?? "?") (\(verified.trustedComment))")
            return Scorer(organs: organs, segment: { try inference.segment($0) }, atlas: nil)
        }
        let info = try ModelInfo(metadata: file.metadata, file: modelURL.path)
        let net = UNet(.segviz(outChannels: Organ.classCount, channels: info.channels))
        try net.load(file)
        let seg = Segmenter(preprocessing: Preprocessing(spacing: info.spacing, window: info.window),
                            window: SlidingWindow(roi: info.patch, overlap: overlap))
        return Scorer(organs: info.organs, segment: { image in try net.withFrozenWeights { try seg.segment(image, predictor: { net.predict($0) }, organs: info.organs) } },
                      atlas: try Atlas.load(besideModel: modelURL))
    }

    func run() throws {
        let modelURL = URL(fileURLWithPath: model)
        Compute.threads = max(1, threads)
        let scorer = try loadScorer()
        let ds = try Dataset.open(URL(fileURLWithPath: dataset))
        let mapping = try LabelMapping(parsing: labels ?? phantomLabels(ds.root))
        let organs = scorer.organs.intersection(mapping.annotatedOrgans).sorted()
        guard !organs.isEmpty else {
            throw EvaluateError(message: "the model segments \(scorer.organs.sorted()) but --labels \(mapping) annotates \(mapping.annotatedOrgans.sorted()): nothing to score")
        }
        let atlas = scorer.atlas
        var results = [CaseResult](), skipped = [String]()
        let bar = ProgressReporter(label: "evaluate", total: ds.training.count)
        for (n, c) in ds.training.enumerated() {
            let lv: LabelledVolume
            do { lv = try ds.load(c, mapping: mapping) } catch {
                guard skipBadCases else { throw DatasetRefused(problems: [error]) }
                skipped.append(error.description)
                continue
            }
            for o in organs {
                if let side = OrganSide.measure(image: lv.image, label: lv.label, organ: o), side.mirrored {
                    FileHandle.standardError.write(Data("warning: \(c.id): \(side)\n".utf8))
                }
            }
            var pred = try scorer.segment(lv.image)
            if keepLargest { pred = pred.keepingLargestComponent(of: scorer.organs.map(\.rawValue)) }
            if let predictions {
                let dir = URL(fileURLWithPath: predictions)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try NIfTI.write(pred, to: dir.appendingPathComponent("\(c.id).nii.gz"), datatype: .uint8)
            }
            let atlasPred = atlas?.predict(on: lv.label.grid)
            var m = [String: OrganScore](), a = [String: OrganScore]()
            for o in organs {
                m[o.description] = Metrics.score(pred, lv.label, label: o.rawValue)
                if let atlasPred { a[o.description] = Metrics.score(atlasPred, lv.label, label: o.rawValue) }
            }
            results.append(CaseResult(id: c.id, model: m, atlas: atlasPred == nil ? nil : a))
            bar.update(n + 1)
        }
        bar.finish()
        let mean = { (pick: (CaseResult) -> [String: OrganScore]?) -> [String: Double] in
            Dictionary(uniqueKeysWithValues: organs.map { o in
                let v = results.compactMap { pick($0)?[o.description]?.dice }
                return (o.description, v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count))
            })
        }
        let report = Report(model: modelURL.path, dataset: ds.root.path, organs: organs.map(\.description), cases: results,
                            meanDice: mean { $0.model }, atlasMeanDice: atlas == nil ? nil : mean { $0.atlas }, skipped: skipped)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            printTable(report)
        }
    }

    private func printTable(_ r: Report) {
        let f = { (s: OrganScore?) in s.map { String(format: "%6.4f", $0.dice) } ?? "   -  " }
        let h = { (s: OrganScore?) in s?.hd95.map { String(format: "%7.1f", $0) } ?? "    -  " }
        var head = "case".padding(toLength: 16, withPad: " ", startingAt: 0)
        for o in r.organs { head += " \(o) Dice  HD95mm  atlas Dice" }
        print(head)
        for c in r.cases {
            var line = c.id.padding(toLength: 16, withPad: " ", startingAt: 0)
            for o in r.organs {
                line += "  " + f(c.model[o]).padding(toLength: o.count + 4, withPad: " ", startingAt: 0) + " " + h(c.model[o]) + "  " + f(c.atlas?[o])
            }
            print(line)
        }
        for o in r.organs {
            print(String(format: "mean %@ Dice %.4f (atlas %@) over %d case(s)", o, r.meanDice[o] ?? 0,
                         r.atlasMeanDice.map { String(format: "%.4f", $0[o] ?? 0) } ?? "n/a", r.cases.count))
        }
        for s in r.skipped { print("skipped: \(s)") }
    }

    /// The `labels` entry of segviz-phantom.json in a data-set folder.
    private func phantomLabels(_ root: URL) throws -> String {
        let url = root.appendingPathComponent("segviz-phantom.json")
        guard let data = try? Data(contentsOf: url),
              let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any], let l = obj["labels"] as? String else {
            throw EvaluateError(message: "--labels is required (no segviz-phantom.json with a labels entry in \(root.path))")
        }
        return l
    }
}

/// A failure of `segviz evaluate` that is not a usage error.
struct EvaluateError: Error, CustomStringConvertible {
    /// What went wrong, naming the file or option.
    let message: String
    var description: String { message }
}
