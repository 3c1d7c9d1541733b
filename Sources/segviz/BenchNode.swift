import ArgumentParser
import Foundation
import Imaging
import NN
import Tensor

/// `segviz bench node`: one site at real scale — load, preprocess and train one epoch, then segment
/// a whole full-resolution CT — with the time and peak memory of each phase.
struct BenchNode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Time a node at real scale: load a site, train one epoch, segment a 512 x 512 x 300 CT.",
        discussion: """
        The site: --cases phantom CTs of --inplane^2 x (--min-slices..--max-slices) voxels, 0.7-0.9 mm in-plane and 1-5 mm
        slices (anatomy drawn 4x coarser in-plane, resampled, fresh noise: the generator evaluates every voxel; liver
        annotated, MSD layout, .nii or with --gzip .nii.gz), written once into --data (reused when it holds the same set). Loading reads and
        preprocesses every case (RAS, 1.5 x 1.5 x 2 mm, HU window, foreground crop) on --load-workers threads and keeps only
        the preprocessed volumes, as a federation node does. Then one epoch of the SegViz U-Net (16..256 channels, 96^3
        patches, --patches per case, one step per case) with a progress bar, then whole-CT inference (read the file,
        preprocess, sliding window 96^3 overlap 0.25, back to the input grid, labels in memory) of a --infer-slices CT.
        Peak memory: loading and training share one figure (VmHWM from the start); the inference runs in a child process
        with the trained weights and reports its own VmHWM.
        Last line: load_s= epoch_s= step_s= train_peak_mib= infer_ct_s= infer_peak_mib= cases= threads=.
        """
    )

    @Option(help: "Training cases of the site.") var cases: Int = 30
    @Option(help: "In-plane voxels (square slices).") var inplane: Int = 512
    @Option(help: "Fewest slices of a case.") var minSlices: Int = 100
    @Option(help: "Most slices of a case.") var maxSlices: Int = 300
    @Option(help: "Slices of the CT segmented at the end (0: skip).") var inferSlices: Int = 300
    @Option(help: "Folder of the generated site (default: a folder per set under the temporary directory).") var data: String?
    @Option(help: "Random patches per case per epoch (one training step per case).") var patches: Int = 4
    @Option(help: "Patch D,H,W (one number or three, multiples of 16).") var patch: String = "96"
    @Option(help: "Worker threads of the kernels.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Cases read and preprocessed at once.") var loadWorkers: Int = 2
    @Option(help: "Seed of the phantoms and the training.") var seed: UInt64 = 1
    @Option(help: ArgumentHelp("Only segment this CT and print its figures (what step 3 runs in a child process).", visibility: .hidden))
    var inferCt: String?
    @Option(help: ArgumentHelp("Weights for --infer-ct (.safetensors).", visibility: .hidden)) var weights: String?
    @Flag(help: "Write the site as .nii.gz (as MSD) instead of .nii (writing 512^2 phantoms compressed takes minutes each on a busy machine).")
    var gzip = false

    func validate() throws {
        guard cases >= 1, inplane >= 64, minSlices >= 16, maxSlices >= minSlices, inferSlices >= 0,
              patches >= 1, threads >= 1, loadWorkers >= 1 else {
            throw ValidationError("--cases, --patches, --threads, --load-workers >= 1; --inplane >= 64; 16 <= --min-slices <= --max-slices")
        }
    }

    func run() throws {
        Compute.threads = threads
        if let inferCt { return try segmentOnly(inferCt) }
        let p = try parseTriple(patch, option: "--patch").map { Int($0) }
        guard p.allSatisfy({ $0 >= 16 && $0 % 16 == 0 }) else { throw ValidationError("--patch must be multiples of 16, got \"\(patch)\"") }
        Compute.threads = threads
        let dir = URL(fileURLWithPath: data ?? (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "segviz-bench-node-\(cases)x\(inplane)-\(minSlices)-\(maxSlices)-s\(seed)\(gzip ? "-gz" : "")"))
        try prepareSite(dir)
        print("node bench: \(cases) cases of \(inplane)x\(inplane)x\(minSlices)-\(maxSlices) in \(dir.path), patch \(p), \(patches) patches per step, threads \(threads), load workers \(loadWorkers)")
        print("blas: \(Compute.blasDescription); kernels: \(Compute.convolutionKernels)")

        // 1. Load and preprocess the site, keeping only the network-grid volumes.
        resetPeakMemory()
        var t = Date(), c = Profiler.processCPU()
        let ds = try Dataset.open(dir)
        let loadBar = ProgressReporter(label: "loading", total: cases)
        var set: TrainingSet? = try TrainingSet.load(ds, mapping: try LabelMapping(parsing: "1:liver,2:liver"),
                                                     preprocessing: Preprocessing(), keepOriginals: false,
                                                     workers: loadWorkers) { done, _ in loadBar.update(done) }
        loadBar.finish()
        let loadSeconds = Date().timeIntervalSince(t), loadCPU = Profiler.processCPU() - c
        let voxels = set!.items.reduce(0) { $0 + $1.image.voxels.count }
        print(String(format: "loaded %d cases in %.1f s (cpu %.1f s, %.2f cases per cpu-s); network grid %.1f M voxels (%.0f MiB image + label)",
                     set!.items.count, loadSeconds, loadCPU, Double(set!.items.count) / loadCPU, Double(voxels) / 1e6,
                     Double(voxels * 8) / 1_048_576))

        // 2. One epoch: one step per case with --patches patches.
        let net = UNet(.segviz(outChannels: Organ.classCount), seed: seed)
        let adam = Adam(net.parameters)
        let loss = DiceCELoss.marginal(classes: Organ.classCount, annotated: [Organ.liver.rawValue])
        let sampler = PatchSampler(size: [p[2], p[1], p[0]])
        let steps = set!.items.count
        let bar = ProgressReporter(label: "epoch 1/1", total: steps)
        var stepTimes = [Double](), total: Float = 0
        t = Date(); c = Profiler.processCPU()
        set!.forEachBatch(0, sampler: sampler, patchesPerVolume: patches, seed: seed) { b in
            let s0 = Date()
            total += net.trainStep(input: b.input, labels: b.labels, loss: loss, optimizer: adam)
            stepTimes.append(Date().timeIntervalSince(s0))
            let n = stepTimes.count, elapsed = Date().timeIntervalSince(t)
            bar.update(n, status: String(format: "case %d/%d step %d/%d loss %.4f", n, steps, n, steps, total / Float(n))
                       + " left " + clock(elapsed / Double(n) * Double(steps - n)))
        }
        bar.finish()
        let epochSeconds = Date().timeIntervalSince(t), epochCPU = Profiler.processCPU() - c
        let trainPeak = peakMemoryMiB()
        print(String(format: "epoch: %d steps in %.1f s (cpu %.1f s), median step %.3f s, mean loss %.4f, peak %d MiB (loading and training)",
                     steps, epochSeconds, epochCPU, median(stepTimes), total / Float(max(steps, 1)), trainPeak))
        set = nil
        MemoryPool.drain()

        // 3. Whole-CT inference of a full-resolution CT, file on disk to labels in memory, in a child process
        // with the trained weights (its peak memory is then its own, not the training's).
        var inferSeconds = 0.0, inferCPU = 0.0, inferPeak = 0
        if inferSlices > 0 {
            let url = dir.appendingPathComponent("infer-ct-\(inplane)x\(inplane)x\(inferSlices).nii" + (gzip ? ".gz" : ""))
            if !FileManager.default.fileExists(atPath: url.path) {
                try NIfTI.write(phantom(9_999, dims: [inplane, inplane, inferSlices], spacing: SIMD3(0.8, 0.8, 1.5)).image,
                                to: url, datatype: .int16)
            }
            let weights = dir.appendingPathComponent("bench-node-model.safetensors")
            try net.save(path: weights.path, metadata: [:])
            let figures = try childFigures(["bench", "node", "--infer-ct", url.path, "--weights", weights.path, "--threads", "\(threads)"])
            (inferSeconds, inferCPU, inferPeak) = (figures["infer_ct_s"] ?? 0, figures["infer_ct_cpu_s"] ?? 0, Int(figures["infer_peak_mib"] ?? 0))
            print("whole-CT inference of \(url.lastPathComponent) (\(inplane)x\(inplane)x\(inferSlices) at 0.8 x 0.8 x 1.5 mm, own process): "
                  + String(format: "%.1f s (cpu %.1f s), peak %d MiB", inferSeconds, inferCPU, inferPeak))
        }
        print(String(format: "load_s=%.1f load_cpu_s=%.1f epoch_s=%.1f epoch_cpu_s=%.1f step_s=%.3f train_peak_mib=%d infer_ct_s=%.1f infer_ct_cpu_s=%.1f infer_peak_mib=%d cases=%d threads=%d",
                     loadSeconds, loadCPU, epochSeconds, epochCPU, median(stepTimes), trainPeak, inferSeconds, inferCPU,
                     inferPeak, steps, threads) + " blas_core=\(Compute.blasCoreName) kernels=\(Compute.convolutionKernels)")
    }

    /// Whole-CT inference of `ct` alone (the child process of step 3): prints its figures, peak = VmHWM. Not
    /// ru_maxrss: Linux keeps a process's ru_maxrss across execve, so a child spawned by the training process
    /// would report the parent's training peak (3646 MiB measured that way against 2255 MiB standalone).
    private func segmentOnly(_ ct: String) throws {
        let net = UNet(.segviz(outChannels: Organ.classCount), seed: seed)
        if let weights { try net.load(path: weights) }
        let t = Date(), c = Profiler.processCPU()
        let image = try NIfTI.read(URL(fileURLWithPath: ct))
        let labels = try net.withFrozenWeights { try Segmenter().segment(image) { net.predict($0) } }
        guard labels.grid == image.grid else { throw ValidationError("output grid differs from the input's") }
        print(String(format: "infer_ct_s=%.2f infer_ct_cpu_s=%.2f infer_peak_mib=%d", Date().timeIntervalSince(t),
                     Profiler.processCPU() - c, peakMemoryMiB()))
    }

    /// Runs this executable with `arguments` and returns the numbers of its last line's key=value pairs.
    private func childFigures(_ arguments: [String]) throws -> [String: Double] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last ?? ""
        guard p.terminationStatus == 0 else { throw ValidationError("inference child process failed (\(p.terminationStatus)): \(last)") }
        var figures = [String: Double]()
        for pair in last.split(separator: " ") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Double(kv[1]) { figures[String(kv[0])] = v }
        }
        return figures
    }

    /// `m:ss` for a duration in seconds.
    private func clock(_ s: Double) -> String { String(format: "%d:%02d", Int(s) / 60, Int(s) % 60) }

    /// Slices and voxel size of case `n`: slice thickness 1-5 mm, slices in range, in-plane 0.7-0.9 mm.
    private func geometry(_ n: Int) -> (dims: [Int], spacing: SIMD3<Double>) {
        var rng = SeededRandom(seed: seed, stream: 1_000 + UInt64(n))
        let inPlane = rng.uniform(0.7...0.9)
        let thickness = [1.0, 1.25, 1.5, 2, 2.5, 3, 5][Int(rng.next() % 7)]
        // a scan length of 20-45 cm, within the slice range
        let slices = min(maxSlices, max(minSlices, Int(rng.uniform(200...450) / thickness)))
        return ([inplane, inplane, slices], SIMD3(inPlane, inPlane, thickness))
    }

    /// Case `n` of the site (LPS, as MSD), its liver labelled 1 (lesions 2). The anatomy is drawn on a
    /// grid 4 times coarser in-plane (the generator evaluates every voxel; at 512^2 that takes minutes
    /// per case), resampled to the full grid (trilinear; labels nearest) and given fresh 14 HU noise.
    private func phantom(_ n: Int, dims: [Int], spacing: SIMD3<Double>) -> (image: Volume, label: Volume) {
        let f = 4
        let coarse = PhantomGenerator(dims: [dims[0] / f, dims[1] / f, dims[2]],
                                      spacing: SIMD3(spacing.x * Double(f), spacing.y * Double(f), spacing.z))
        let writer = PhantomDatasetWriter(generator: coarse, layout: .msd, annotate: .liver, seed: seed)
        let c = coarse.generate(seed: seed, index: n, orientation: "LPS")
        let grid = PhantomGenerator(dims: dims, spacing: spacing).grid(orientation: "LPS")
        var image = c.image.resampled(to: grid, interpolation: .linear)
        var rng = SeededRandom(seed: seed ^ 0xB0B, stream: UInt64(n))
        for i in image.voxels.indices {
            image.voxels[i] = max(-1024, min(3071, (image.voxels[i] + Float(14 * rng.gaussian())).rounded()))
        }
        return (image, writer.labels(of: c).resampled(to: grid, interpolation: .nearest))
    }

    /// Writes the site (MSD layout, liver annotated) unless `dir` already holds the same set.
    private func prepareSite(_ dir: URL) throws {
        let stamp = dir.appendingPathComponent("segviz-bench-node.json")
        let key = "cases=\(cases) inplane=\(inplane) slices=\(minSlices)-\(maxSlices) seed=\(seed) gzip=\(gzip)"
        if (try? String(contentsOf: stamp, encoding: .utf8)) == key { return }
        try? FileManager.default.removeItem(at: dir)
        let t0 = Date()
        let bar = ProgressReporter(label: "writing the site", total: cases)
        var entries = [[String: String]]()
        for sub in ["imagesTr", "labelsTr"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        for n in 0..<cases {
            let (dims, spacing) = geometry(n)
            let (image, label) = phantom(n, dims: dims, spacing: spacing)
            let name = "liver_\(n).nii" + (gzip ? ".gz" : "")
            try NIfTI.write(image, to: dir.appendingPathComponent("imagesTr/" + name), datatype: .int16)
            try NIfTI.write(label, to: dir.appendingPathComponent("labelsTr/" + name), datatype: .uint8)
            entries.append(["image": "./imagesTr/\(name)", "label": "./labelsTr/\(name)"])
            bar.update(n + 1, status: "\(dims[0])x\(dims[1])x\(dims[2]) at \(String(format: "%.2f x %.2f x %.2f", spacing.x, spacing.y, spacing.z)) mm")
        }
        bar.finish()
        let manifest: [String: Any] = ["name": "SegVizBenchNode", "labels": ["0": "background", "1": "liver", "2": "cancer"],
                                       "modality": ["0": "CT"], "numTraining": cases, "numTest": 0, "training": entries, "test": [String]()]
        try AtomicFile.write(path: dir.appendingPathComponent("dataset.json").path,
                             contents: JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys]))
        try AtomicFile.write(path: stamp.path, contents: Data(key.utf8))
        log("wrote \(cases) cases into \(dir.path) in " + String(format: "%.1f s", Date().timeIntervalSince(t0)))
    }
}
