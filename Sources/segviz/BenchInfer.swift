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
        the network has seeded random weights (speed does not depend on them). infer_volume_s times the sliding window over
        the preprocessed volume (MONAI's function); the full pipeline time (read, preprocess, infer, resample back) is
        printed on the line before. Last line: infer_volume_s=<s> peak_rss_mib=<n>. The default CT is the TotalSegmentator
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

    func run() throws {
        let url = input.map { URL(fileURLWithPath: $0) } ?? sharedDataFile("real-ct-abdomen-3mm.nii.gz")
        let sp = try parseTriple(spacing, option: "--spacing")
        let r = try parseTriple(roi, option: "--roi").map { Int($0) }
        guard r.allSatisfy({ $0 >= 16 && $0 % 16 == 0 }) else { throw ValidationError("--roi must be multiples of 16, got \"\(roi)\"") }
        guard overlap >= 0, overlap < 1, batch >= 1, threads >= 1 else { throw ValidationError("--overlap must be in 0..<1, --batch and --threads at least 1") }
        Compute.threads = threads
        let net = UNet(.segviz(outChannels: Organ.classCount), seed: 1)
        if let model { try net.load(path: model) }
        let t0 = Date()
        let image = try NIfTI.read(url)
        let pre = Preprocessing(spacing: SIMD3(sp[0], sp[1], sp[2]))
        let netImage = pre.image(image)
        let sw = SlidingWindow(roi: r, overlap: overlap, batchSize: batch)
        let windows = (0..<3).map { sw.starts(size: max(netImage.tensor.shape[2 + $0], r[$0]), roi: r[$0]).count }.reduce(1, *)
        print("input \(url.lastPathComponent) \(image.dims) \(image.orientation) -> network grid \(netImage.dims) at \(sp) mm, \(windows) windows of \(r), threads \(threads)")
        let t1 = Date()
        var networkSeconds = 0.0
        _ = try sw(netImage.tensor) { x in
            let t = Date()
            defer { networkSeconds += Date().timeIntervalSince(t) }
            return net.predict(x)
        }
        let inferSeconds = Date().timeIntervalSince(t1)
        print(String(format: "network_s=%.3f (%.3f per window) blending_s=%.3f", networkSeconds, networkSeconds / Double(windows), inferSeconds - networkSeconds))
        let labels = try Segmenter(preprocessing: pre, window: sw).segment(image) { net.predict($0) }
        let total = Date().timeIntervalSince(t0) - inferSeconds  // the pipeline ran inference once more inside segment
        guard labels.grid == image.grid else { throw ValidationError("output grid differs from the input's") }
        print(String(format: "pipeline_s=%.3f (read, preprocess, infer, back to the input grid %@; output geometry equals input)", total, "\(image.dims)"))
        print(String(format: "infer_volume_s=%.3f peak_rss_mib=%d", inferSeconds, peakResidentMiB()))
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

/// Peak resident set size (VmHWM) in MiB, 0 when /proc is unavailable.
func peakResidentMiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let kb = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    return (kb ?? 0) / 1024
}
