import ArgumentParser
import Experiment
import Federation
import Foundation
import Imaging
import Tensor

/// `segviz infer`: segments a CT with a signed global model, after verifying it.
struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment a CT (NIfTI file or DICOM series folder) with a signed global model (verified first; there is no way to skip that).",
        discussion: """
        Writes a NIfTI label mask (0 background, 1 liver, 2 spleen) with the input's exact dims and affine; for a \
        DICOM series, the series' grid (columns, rows, slices sorted by position; affine from Image Position and \
        Orientation, in RAS). The network sees MONAI's (channel, i, j, k) order of the RAS grid, so --roi is along \
        i, j, k, as MONAI's roi_size.
        """)

    @Option(help: "Global model (.safetensors with MODEL.minisig beside it).") var model: String
    @Option(help: "The aggregator's public key.") var pubkey: String?
    @Option(help: "Federation file (alternative to --pubkey: its aggregator key).") var federation: String?
    @Option(help: "Input CT: a .nii/.nii.gz file, or a folder holding one DICOM series.") var input: String
    @Option(help: "Output mask (.nii or .nii.gz).") var output: String
    @Option(help: "Sliding-window size along i,j,k of the RAS grid, as MONAI's roi_size (default: the model's training patch).") var roi: String?
    @Option(help: "Sliding-window overlap (0.5: half-window steps, as nnU-Net; MONAI's default is 0.25).") var overlap: Double = GlobalModelInference.defaultOverlap
    @Option(help: "Worker threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(inversion: .prefixedNo, help: "Keep only the largest connected component of each organ (MONAI KeepLargestConnectedComponent, 26-connected); --no-keep-largest writes the raw argmax.")
    var keepLargest = true
    @Option(help: "Also draw the mask over the CT (axial and coronal, as segviz picture) into this PNG for a quick look.")
    var overlay: String?

    func validate() throws {
        guard (pubkey == nil) != (federation == nil) else { throw ValidationError("give exactly one of --pubkey or --federation") }
        if let overlay, !overlay.lowercased().hasSuffix(".png") { throw ValidationError("--overlay must end in .png, got \"\(overlay)\"") }
        guard output.hasSuffix(".nii") || output.hasSuffix(".nii.gz") else {
            throw ValidationError("--output must end in .nii or .nii.gz, got \"\(output)\"")
        }
    }

    func run() throws {
        try failing {
            let key = try TrustedKey.load(pubkey: pubkey, federation: federation)
            let verified = try VerifiedModel.open(path: model, publicKey: key)
            Compute.threads = max(1, threads)
            let r: [Int]
            if let roi {
                r = roi.split(separator: ",").compactMap { Int($0) }
                guard r.count == 3, r.allSatisfy({ $0 > 0 }) else { throw ValidationError("--roi needs three positive sizes i,j,k") }
            } else {
                r = try trainingPatch(verified)
            }
            let inference = try GlobalModelInference(verified: verified, roi: r, overlap: overlap, keepLargestComponent: keepLargest)
            let image = try Volume.read(image: URL(fileURLWithPath: input))
            let mask = try inference.segment(image)
            try NIfTI.write(mask, to: URL(fileURLWithPath: output), datatype: .uint8)  // atomic (AtomicFile)
            var counts = [Int](repeating: 0, count: 3)
            for v in mask.voxels { let i = Int(v); if i >= 0 && i < 3 { counts[i] += 1 } }
            print("verified model round \(verified.manifest["round"] ?? "?") (\(verified.trustedComment))")
            print("wrote \(output): dims \(mask.dims), liver voxels \(counts[1]), spleen voxels \(counts[2])")
            if let overlay {
                // The CT on a 1.5 mm RAS display grid with the mask outlined (1 liver yellow, 2 spleen cyan).
                let sp = SIMD3(1.5, 1.5, 1.5)
                let img = image.reoriented(to: "RAS").resampled(toSpacing: sp, interpolation: .linear)
                let outline = mask.reoriented(to: "RAS").resampled(to: img.grid, interpolation: .nearest)
                let column = RenderedColumn(name: URL(fileURLWithPath: input).lastPathComponent, image: img, fill: nil,
                                            outline: outline, picker: outline, axialFraction: 0.75)
                let w = verified.manifest["window"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Double] } ?? [-160, 240]
                let png = SliceSheet(window: (w.first ?? -160, w.last ?? 240)).render([column])
                _ = try PNG.write(png, to: URL(fileURLWithPath: overlay))
                print("wrote \(overlay) (\(png.width) x \(png.height)): axial and coronal slices through the most mask voxels")
            }
        }
    }

    private func trainingPatch(_ v: VerifiedModel) throws -> [Int] {
        guard let t = v.manifest["patch"], let a = try? JSONSerialization.jsonObject(with: Data(t.utf8)) as? [Int], a.count == 3 else {
            return [96, 96, 96]
        }
        return a
    }
}
