import ArgumentParser
import Foundation
import NN
import Tensor

/// `segviz bench unet`: times training steps and inference of the SegViz U-Net on random data.
struct BenchUNet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet",
        abstract: "Time U-Net training steps (forward, DiceCE, backward, Adam) and one-patch inference.",
        discussion: "Last line: unet_step_s=<median> unet_infer_s=<median of the steady passes> unet_infer_cold_s=<the first pass, packing the weights> peak_rss_mib=<ru_maxrss> step_cpu_s= infer_cpu_s= step_gflop_per_cpu_s= infer_gflop_per_cpu_s= threads= blas_core= kernels=. Set SEGVIZ_PROFILE=1 (or layers) or --profile for per-layer-type times. SEGVIZ_KERNELS=blas|plain selects the convolution kernels.")

    @Option(parsing: .upToNextOption, help: "Patch extents D H W (multiples of 16).")
    var patch: [Int] = [96, 96, 96]
    @Option(help: "Patches per training step.")
    var batch: Int = 1
    @Option(help: "Timed training steps (after one warm-up step).")
    var steps: Int = 5
    @Option(help: "Worker threads (Compute.threads; OpenBLAS stays single-threaded).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(parsing: .upToNextOption, help: "Channels per level.")
    var channels: [Int] = [16, 32, 64, 128, 256]
    @Option(name: .customLong("out-channels"), help: "Output classes K.")
    var outChannels: Int = 3
    @Option(help: "Timed inference runs of one patch (after one warm-up run).")
    var inferRuns: Int = 5
    @Flag(help: "Print time and GFLOP/s per layer type.")
    var profile = false

    func validate() throws {
        guard patch.count == 3, patch.allSatisfy({ $0 > 0 && $0 % 16 == 0 }) else {
            throw ValidationError("--patch needs three positive multiples of 16, got \(patch)")
        }
        guard batch >= 1, steps >= 1, threads >= 1, outChannels >= 2, inferRuns >= 1, channels.count >= 2 else {
            throw ValidationError("--batch, --steps, --threads, --infer-runs must be >= 1, --out-channels >= 2, --channels >= 2 levels")
        }
    }

    func run() throws {
        Compute.threads = threads
        let config = UNetConfig.segviz(outChannels: outChannels, channels: channels)
        let net = UNet(config, seed: 1)
        let adam = Adam(net.parameters)
        let (d, h, w) = (patch[0], patch[1], patch[2])
        var rng = SplitMix64(seed: 7)
        let voxels = d * h * w
        let input = Tensor(shape: [batch, 1, d, h, w], scalars: (0..<(batch * voxels)).map { _ in rng.nextUnit() * 2 - 1 })
        // Labels: a sphere per class, so that every class occurs.
        var lab = [Float](repeating: 0, count: batch * voxels)
        for n in 0..<batch {
            for z in 0..<d { for y in 0..<h { for x in 0..<w {
                let r = ((z - d / 2) * (z - d / 2) + (y - h / 2) * (y - h / 2) + (x - w / 2) * (x - w / 2))
                let c = Int(Double(r).squareRoot()) * outChannels / max(1, min(d, min(h, w)) / 2)
                lab[((n * d + z) * h + y) * w + x] = Float(min(outChannels - 1, c))
            } } }
        }
        let labels = Tensor(shape: [batch, 1, d, h, w], scalars: lab)
        print("unet bench: patch \(d)x\(h)x\(w) batch \(batch) steps \(steps) threads \(threads) channels \(channels) K \(outChannels) params \(net.parameters.parameterCount)")
        print("blas: \(Compute.blasDescription); kernels: \(Compute.convolutionKernels)")
        let profiler = (profile || ProcessInfo.processInfo.environment["SEGVIZ_PROFILE"] != nil) ? Profiler(perLayer: ProcessInfo.processInfo.environment["SEGVIZ_PROFILE"] == "layers") : nil

        // Warm-up step and inference, counting the convolutions' floating-point work.
        let counter = Profiler()
        net.profiler = counter
        net.trainStep(input: input, labels: labels, optimizer: adam)
        let stepFlops = counter.totalFlops
        counter.reset()
        _ = net.predict(Tensor(shape: [1, 1, d, h, w], scalars: Array(input.scalars[0..<voxels])))
        let inferFlops = counter.totalFlops
        net.profiler = profiler
        var stepTimes: [Double] = []
        let cpu0 = Profiler.processCPU()
        for s in 0..<steps {
            let t0 = Date()
            let loss = net.trainStep(input: input, labels: labels, optimizer: adam)
            stepTimes.append(Date().timeIntervalSince(t0))
            print(String(format: "step %d: %.3f s loss %.4f", s, stepTimes.last!, loss))
        }
        let stepCPU = (Profiler.processCPU() - cpu0) / Double(steps)
        if let profiler { print("profile, training step (per step):\n" + profiler.report(divideBy: steps)); profiler.reset() }

        let one = Tensor(shape: [1, 1, d, h, w], scalars: Array(input.scalars[0..<voxels]))
        net.profiler = profiler
        // Inference as segviz infers (the sliding window, `segviz infer`, evaluation): inside `withFrozenWeights`,
        // whose first pass packs and folds each layer's weights once for the whole volume. That first pass is
        // timed apart (`unet_infer_cold_s`); the timed runs are the steady state, as PyTorch's no_grad passes.
        var inferTimes: [Double] = []
        var cpu1 = 0.0, coldTime = 0.0
        net.withFrozenWeights {
            let t = Date()
            _ = net.predict(one)
            coldTime = Date().timeIntervalSince(t)
            if let profiler { profiler.reset() }
            cpu1 = Profiler.processCPU()
            for _ in 0..<inferRuns {
                let t0 = Date()
                _ = net.predict(one)
                inferTimes.append(Date().timeIntervalSince(t0))
            }
        }
        let inferCPU = (Profiler.processCPU() - cpu1) / Double(inferRuns)
        if let profiler { print("profile, inference (per patch):\n" + profiler.report(divideBy: inferRuns)) }
        print("step times: " + stepTimes.map { String(format: "%.3f", $0) }.joined(separator: " "))
        print("inference times: " + inferTimes.map { String(format: "%.3f", $0) }.joined(separator: " ")
              + String(format: " (first pass, packing the weights: %.3f s)", coldTime))
        // CPU time of all threads: unlike wall time it hardly grows when other processes share the cores.
        print(String(format: "cpu seconds (all threads): step %.3f inference %.3f; fastest step %.3f s, inference %.3f s",
                     stepCPU, inferCPU, stepTimes.min()!, inferTimes.min()!))
        print(String(format: "convolution work: step %.2f GFLOP, inference %.2f GFLOP; %.1f / %.1f GFLOP per cpu-s, %.1f / %.1f GFLOP/s of wall time",
                     stepFlops * 1e-9, inferFlops * 1e-9, stepFlops / stepCPU * 1e-9, inferFlops / inferCPU * 1e-9,
                     stepFlops / median(stepTimes) * 1e-9, inferFlops / median(inferTimes) * 1e-9))
        print(String(format: "unet_step_s=%.3f unet_infer_s=%.3f unet_infer_cold_s=%.3f peak_rss_mib=%d step_cpu_s=%.3f infer_cpu_s=%.3f step_gflop_per_cpu_s=%.1f infer_gflop_per_cpu_s=%.1f threads=%d",
                     median(stepTimes), median(inferTimes), coldTime, peakRSSMiB(), stepCPU, inferCPU,
                     stepFlops / stepCPU * 1e-9, inferFlops / inferCPU * 1e-9, threads)
              + " blas_core=\(Compute.blasCoreName) kernels=\(Compute.convolutionKernels)")
    }
}
