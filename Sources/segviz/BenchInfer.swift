import ArgumentParser
import Foundation
import Imaging
import NN
import Tensor

/// `segviz bench infer`: sliding-window inference of the SegViz U-Net over a whole CT volume.
struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Time sliding-window inference of the U-Net over a full CT volume.",
        discussion: """
        Default input: the real CT in shared/data (SEGVIZ_SHARED, else ../shared/data beside the repository), resampled to
        1.5 x 1.5 x 2 mm, window 96^3, overlap 0.25, Gaussian blending, as MONAI's sliding_window_inference. Without --model
        the network has seeded random weights (speed does not depend on them). infer_volume_s is the median of --reps runs
        of the sliding window over the preprocessed volume (what the MONAI anchor times, after one warm-up window);
        pipeline_s times once the whole path from the file on disk to the labels in memory (read, preprocess, infer,
        softmax, resample back, argmax). Last line: infer_volume_s= infer_volume_cpu_s= pipeline_s= pipeline_cpu_s=
        windows= gflop_per_cpu_s= peak_rss_mib= (ru_maxrss) threads= blas_core= kernels=. The default CT is the TotalSegmentator
        example CT (github.com/wasserth/TotalSegmentator, Apache-2.0; data set CC BY 4.0, Wasserthal et al., Radiology: AI 2023).
        """
    )

    @Option(help: "CT volume (.nii/.nii.gz).") var input: String?
    @Option(help: "Model weights (.safetensors from segviz train).") var model: String?
    @Option(help: "Target voxel size in mm (one number or three).") var spacing: String = "1.5,1.5,2"
    @Option(help: "Window along i,j,k of the RAS grid, MONAI's roi_size order (one number or three, multiples of 16).") var roi: String = "96"
    @Option(help: "Window overlap.") var overlap: Double = 0.25
    @Option(help: "Windows per network call.") var batch: Int = 1
    @Option(help: "Worker threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Timed sliding-window runs (median reported), as the MONAI anchor's --reps.") var reps: Int = 3

    func run() throws {
        let url = input.map { URL(fileURLWithPath: $0) } ?? sharedDataFile("real-ct-abdomen-3mm.nii.gz")
        let sp = try parseTriple(spacing, option: "--spacing")
        let r = try parseTriple(roi, option: "--roi").map { Int($0) }
        guard r.allSatisfy({ $0 >= 16 && $0 % 16 == 0 }) else { throw ValidationError("--roi must be multiples of 16, got \"\(roi)\"") }
        guard overlap >= 0, overlap < 1, batch >= 1, threads >= 1, reps >= 1 else { throw ValidationError("--overlap must be in 0..<1, --batch and --threads at least 1") }
        Compute.threads = threads
        let net = UNet(.segviz(outChannels: Organ.classCount), seed: 1)
        if let model { try net.load(path: model) }
        // Warm-up: one window, counting the convolutions' floating-point work per window.
        let counter = Profiler()
        net.profiler = counter
        _ = net.predict(Tensor(zeros: [1, 1] + r))
        net.profiler = nil
        let windowFlops = counter.totalFlops

        // The whole pipeline, file on disk to labels in memory.
        var t0 = Date(), c0 = Profiler.processCPU()
        let image = try NIfTI.read(url)
        let pre = Preprocessing(spacing: SIMD3(sp[0], sp[1], sp[2]))
        let sw = SlidingWindow(roi: r, overlap: overlap, batchSize: batch)
        let labels = try net.withFrozenWeights { try Segmenter(preprocessing: pre, window: sw).segment(image) { net.predict($0) } }
        let pipelineSeconds = Date().timeIntervalSince(t0), pipelineCPU = Profiler.processCPU() - c0
        guard labels.grid == image.grid else { throw ValidationError("output grid differs from the input's") }

        // The sliding window alone over the preprocessed volume, as MONAI's anchor times it.
        let netImage = pre.image(image).tensor
        let windows = (0..<3).map { sw.starts(size: max(netImage.shape[2 + $0], r[$0]), roi: r[$0]).count }.reduce(1, *)
        print("input \(url.lastPathComponent) \(image.dims) \(image.orientation) -> network grid \(Array(netImage.shape[2...])) at \(sp) mm, \(windows) windows of \(r), batch \(batch), threads \(threads)")
        print("blas: \(Compute.blasDescription); kernels: \(Compute.convolutionKernels)")
        var times = [Double](), cpus = [Double]()
        for rep in 0..<reps {
            var networkSeconds = 0.0
            t0 = Date(); c0 = Profiler.processCPU()
            // the weights are packed once per volume (as in the pipeline), not once per window
            _ = try net.withFrozenWeights {
                try sw(netImage) { x in
                    let t = Date()
                    defer { networkSeconds += Date().timeIntervalSince(t) }
                    return net.predict(x)
                }
            }
            times.append(Date().timeIntervalSince(t0)); cpus.append(Profiler.processCPU() - c0)
            print(String(format: "sliding window %d: %.3f s (cpu %.3f s): network %.3f s (%.3f per window), blending %.3f s",
                         rep + 1, times.last!, cpus.last!, networkSeconds, networkSeconds / Double(windows), times.last! - networkSeconds))
        }
        let flops = windowFlops * Double(windows)
        print(String(format: "pipeline (read, preprocess, sliding window, softmax, back to the input grid, argmax): %.3f s (cpu %.3f s)",
                     pipelineSeconds, pipelineCPU))
        print(String(format: "sliding window: median %.3f s, cpu %.3f s, %.1f GFLOP, %.1f GFLOP per cpu-s, %.1f GFLOP/s of wall time",
                     median(times), median(cpus), flops * 1e-9, flops / median(cpus) * 1e-9, flops / median(times) * 1e-9))
        print(String(format: "infer_volume_s=%.3f infer_volume_cpu_s=%.3f pipeline_s=%.3f pipeline_cpu_s=%.3f windows=%d gflop_per_cpu_s=%.1f peak_rss_mib=%d threads=%d",
                     median(times), median(cpus), pipelineSeconds, pipelineCPU, windows, flops / median(cpus) * 1e-9, peakRSSMiB(), threads)
              + " blas_core=\(Compute.blasCoreName) kernels=\(Compute.convolutionKernels)")
    }
}

/// A file in the shared data folder: `$SEGVIZ_SHARED/data`, else `../shared/data` beside the repository.
func sharedDataFile(_ name: String) -> URL {
    if let env = ProcessInfo.processInfo.environment["SEGVIZ_SHARED"], !env.isEmpty {
        return URL(fileURLWithPath: env).appendingPathComponent("data").appendingPathComponent(name)
    }
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return repo.deletingLastPathComponent().appendingPathComponent("shared/data").appendingPathComponent(name)
}
