import ArgumentParser
import Foundation
import Imaging
import NN
import Tensor

/// `segviz train`: one site training the SegViz U-Net alone on its own data set.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the U-Net on one site's data set (the paper's individual baseline).",
        discussion: """
        --labels maps the site's label numbers to the federation's (0 background, 1 liver, 2 spleen): comma-separated
        VALUE:TARGET items, TARGET liver|spleen|background, VALUE a number or * for all other values; presets msd-liver
        (1:liver,2:liver), msd-spleen (1:spleen), btcv (1:spleen,6:liver,*:background). Organs the site does not annotate
        are trained with the marginal loss (merged into background). An epoch is one pass over the training volumes with
        --patches random patches per volume (half centred on foreground), one optimiser step per volume. The atlas
        baseline of the training labels is written beside the model (<model>.atlas-<organ>.nii.gz).
        """
    )

    @Option(help: "Data-set folder (MSD, BTCV or image/label pairs).") var dataset: String
    @Option(help: "Label mapping, e.g. 1:liver,2:liver or a preset (msd-liver, msd-spleen, btcv).") var labels: String
    @Option(help: "Epochs.") var epochs: Int = 10
    @Option(help: "Output model file (.safetensors).") var out: String
    @Option(help: "Target voxel size in mm (one number or three).") var spacing: String = "1.5,1.5,2.0"
    @Option(help: "HU window mapped to 0..1.") var window: String = "-175..250"
    @Option(help: "Patch size in voxels along i,j,k of the RAS grid (MONAI's order) (one number or three, multiples of 16).") var patch: String = "96"
    @Option(help: "Random patches per volume per epoch.") var patches: Int = 4
    @Option(help: "Adam learning rate.") var lr: Float = 1e-3
    @Option(help: "Seed for initialisation, patches and augmentation.") var seed: UInt64 = 1
    @Option(help: "Worker threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "U-Net channels per level.") var channels: String = "16,32,64,128,256"
    @Flag(help: "Leave out cases with errors (listed) instead of refusing the data set.") var skipBadCases = false

    func run() throws {
        let mapping: LabelMapping
        do { mapping = try LabelMapping(parsing: labels) } catch { throw ValidationError(error.description) }
        guard let win = HUWindow(parsing: window) else { throw ValidationError("--window must be LOWER..UPPER, e.g. -175..250, not \"\(window)\"") }
        let sp = try parseTriple(spacing, option: "--spacing")
        guard sp.allSatisfy({ $0 > 0 }) else { throw ValidationError("--spacing must be positive") }
        let p = try parseTriple(patch, option: "--patch").map { Int($0) }
        guard p.allSatisfy({ $0 >= 16 && $0 % 16 == 0 }) else { throw ValidationError("--patch must be multiples of 16, got \"\(patch)\"") }
        let ch = channels.split(separator: ",").compactMap { Int($0) }
        guard ch.count >= 2, ch.allSatisfy({ $0 > 0 }) else { throw ValidationError("--channels needs at least two positive counts") }
        guard epochs >= 1, patches >= 1, threads >= 1 else { throw ValidationError("--epochs, --patches and --threads must be at least 1") }
        guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must end in .safetensors, got \"\(out)\"") }
        Compute.threads = threads

        let ds = try Dataset.open(URL(fileURLWithPath: dataset))
        let pre = Preprocessing(spacing: SIMD3(sp[0], sp[1], sp[2]), window: win)
        let t0 = Date()
        let set = try TrainingSet.load(ds, mapping: mapping, preprocessing: pre, skipBadCases: skipBadCases)
        for problem in set.skipped { log("skipping bad case: \(problem)") }
        log("loaded \(set.items.count) case(s) from \(ds.root.path) (layout \(ds.layout.rawValue), organs \(mapping.annotatedOrgans.sorted().map(\.description).joined(separator: ","))) in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")

        let organs = mapping.annotatedOrgans
        let net = UNet(.segviz(outChannels: Organ.classCount, channels: ch), seed: seed)
        let adam = Adam(net.parameters, learningRate: lr)
        let loss = DiceCELoss.marginal(classes: Organ.classCount, annotated: organs.map(\.rawValue))
        // --patch is the tensor's (D, H, W) = the RAS grid's (i, j, k), as MONAI
        let sampler = PatchSampler(size: p, augmentation: .standard)
        let info = ModelInfo(organs: organs, labels: mapping.description, spacing: pre.spacing, window: win, patch: p, channels: ch)
        for e in 0..<epochs {
            let batches = set.epoch(e, sampler: sampler, patchesPerVolume: patches, seed: seed)
            let bar = ProgressReporter(label: "epoch \(e + 1)/\(epochs)", total: batches.count)
            var total: Float = 0
            for (n, b) in batches.enumerated() {
                total += net.trainStep(input: b.input, labels: b.labels, loss: loss, optimizer: adam)
                bar.update(n + 1, status: String(format: "loss %.4f", total / Float(n + 1)))
            }
            bar.finish()
            log(String(format: "epoch %d/%d mean loss %.4f elapsed %.1f s", e + 1, epochs, total / Float(batches.count), Date().timeIntervalSince(t0)))
        }
        let url = URL(fileURLWithPath: out)
        // Safetensors files are written atomically (AtomicFile).
        try net.save(path: url.path, metadata: info.metadata.merging(["segviz.epochs": "\(epochs)", "segviz.seed": "\(seed)"]) { a, _ in a })
        try Atlas.build(from: set.originals, organs: organs).save(besideModel: url)
        log("wrote \(url.path) and its atlas baseline (\(String(format: "%.1f", Date().timeIntervalSince(t0))) s total)")
    }
}

/// A log line on stderr.
func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
