import Foundation
import NN
import Tensor
import Testing
@testable import Imaging

/// What MONAI 1.6.1 made of a real-CT crop and a small UNet (../shared/fixtures/monai-interop, README there):
/// segviz's own preprocessing and sliding-window inference must reproduce MONAI's network input, its affine and
/// the blended logits from the same `input.nii.gz` and `model.safetensors`.
@Suite struct MONAIInteropTests {
    static var fixture: URL { TestSupport.sharedData.deletingLastPathComponent().appendingPathComponent("fixtures/monai-interop") }

    /// The fixture's settings (README): spacing 4.5 mm, window -175..250, roi (32, 32, 32), overlap 0.25, gaussian.
    static let preprocessing = Preprocessing(spacing: SIMD3(4.5, 4.5, 4.5), window: .abdomen, cropForeground: false)

    @Test func networkInputAndAffineMatchMONAI() throws {
        let expected = try RawSafetensors(url: Self.fixture.appendingPathComponent("monai-output.safetensors"))
        let ct = try NIfTI.read(Self.fixture.appendingPathComponent("input.nii.gz"))
        let net = Self.preprocessing.image(ct)
        let (inputShape, input) = try expected.floats("network_input")
        #expect(inputShape == [1, 60, 51, 35])
        #expect([1] + net.dims == inputShape, "segviz grid \(net.dims), MONAI \(inputShape)")
        let (_, affine) = try expected.doubles("network_affine")
        // MONAI's Spacing affine: same within 1e-6 mm (both computed in float64 from the same header)
        #expect(net.affine.isClose(to: Affine(rowMajor: affine), tolerance: 1e-6), "segviz\n\(net.affine)\nMONAI \(affine)")
        let tensor = net.tensor
        #expect(tensor.shape == [1] + inputShape)
        guard tensor.count == input.count else { return }
        let worst = zip(tensor.scalars, input).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-5, "network input differs from MONAI's by up to \(worst)")
    }

    @Test(.timeLimit(.minutes(5))) func slidingWindowLogitsMatchMONAI() throws {
        let expected = try RawSafetensors(url: Self.fixture.appendingPathComponent("monai-output.safetensors"))
        let modelURL = Self.fixture.appendingPathComponent("model.safetensors")
        let model = try SafetensorsFile.read(path: modelURL.path)
        let arch = try #require(try JSONSerialization.jsonObject(with: Data(model.metadata["architecture"]!.utf8)) as? [String: Any])
        let config = UNetConfig(inChannels: arch["in_channels"] as! Int, outChannels: arch["out_channels"] as! Int,
                                channels: arch["channels"] as! [Int], strides: arch["strides"] as! [Int],
                                numResUnits: arch["num_res_units"] as! Int,
                                norm: arch["norm"] as! String == "instance" ? .instance : .batch)
        let unet = UNet(config)
        try unet.load(model)
        let ct = try NIfTI.read(Self.fixture.appendingPathComponent("input.nii.gz"))
        let net = Self.preprocessing.image(ct)
        let logits = try SlidingWindow(roi: [32, 32, 32], overlap: 0.25)(net.tensor) { unet.predict($0) }
        let (shape, want) = try expected.floats("logits")
        #expect(Array(logits.shape.dropFirst()) == shape)
        guard logits.count == want.count else { return }
        let scale = want.map(abs).max()!
        let worst = zip(logits.scalars, want).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4 * scale, "logits differ by up to \(worst) (largest magnitude \(scale))")
        // the argmax may differ only where MONAI's two top logits are within the tolerance
        let n = shape.dropFirst().reduce(1, *), k = shape[0]
        var unexplained = 0
        for v in 0..<n {
            let ours = (0..<k).max { logits.scalars[$0 * n + v] < logits.scalars[$1 * n + v] }!
            let theirs = (0..<k).max { want[$0 * n + v] < want[$1 * n + v] }!
            if ours != theirs && abs(want[ours * n + v] - want[theirs * n + v]) > 1e-4 * scale { unexplained += 1 }
        }
        #expect(unexplained == 0)
    }

    /// MONAI's Spacing grid on an oblique, flipped affine whose j extent rounds half to even (7 * 1.5 / 3 + 1 =
    /// 4.5 -> 4). Expected numbers: MONAI 1.6.1, `Spacing(pixdim=(1.5, 3, 4))(MetaTensor(zeros(1, 20, 8, 9),
    /// affine=a))`, its output shape and affine.
    @Test func spacingGridOfObliqueAffine() {
        let c = cos(0.3), s = sin(0.3)
        let a = Affine(rowMajor: [-2 * c, 0, 3 * s, 10, 0, 1.5, 0, -20, 2 * s, 0, 3 * c, 30, 0, 0, 0, 1])
        let g = VoxelGrid(dims: [20, 8, 9], affine: a).withSpacing(SIMD3(1.5, 3, 4))
        #expect(g.dims == [26, 4, 7])
        let monai = [-1.433004733688409, 0.0, 1.1820808266453582, 10.0, 0.0, 3.0, 0.0, -20.0,
                     0.4432803099920094, 0.0, 3.821345956502425, 30.0, 0.0, 0.0, 0.0, 1.0]
        #expect(g.affine.isClose(to: Affine(rowMajor: monai), tolerance: 1e-9), "\(g.affine)")
    }
}

/// A safetensors file read as raw little-endian arrays (the fixture holds F64, which segviz's reader refuses on
/// purpose): the header is JSON, each entry names its dtype, shape and byte range (huggingface/safetensors README).
struct RawSafetensors {
    let header: [String: Any]
    let body: Data

    init(url: URL) throws {
        let d = try Data(contentsOf: url)
        let n = Int(d.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        header = try JSONSerialization.jsonObject(with: d.subdata(in: 8..<(8 + n))) as! [String: Any]
        body = d.subdata(in: (8 + n)..<d.count)
    }

    private func entry(_ name: String, dtype: String) throws -> ([Int], Data) {
        guard let e = header[name] as? [String: Any], e["dtype"] as? String == dtype,
              let shape = e["shape"] as? [Int], let off = e["data_offsets"] as? [Int] else {
            throw SafetensorsError.missingTensor(file: "fixture", name: name)
        }
        return (shape, body.subdata(in: off[0]..<off[1]))
    }

    func floats(_ name: String) throws -> ([Int], [Float]) {
        let (s, d) = try entry(name, dtype: "F32")
        return (s, d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
    }

    func doubles(_ name: String) throws -> ([Int], [Double]) {
        let (s, d) = try entry(name, dtype: "F64")
        return (s, d.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) })
    }
}

/// `segviz train` models carry their layout version; one without it (trained on (k, j, i) tensors) is refused.
@Suite struct SiteModelLayoutTests {
    @Test func siteModelWithoutLayoutVersionIsRefused() throws {
        let info = ModelInfo(organs: [.liver], labels: "1:liver", spacing: SIMD3(3, 3, 3), window: .abdomen, patch: [32, 32, 32], channels: [8, 16])
        #expect(info.metadata["segviz.format"] == "segviz-site-model/2")
        var old = info.metadata
        old.removeValue(forKey: "segviz.format")
        let error = #expect(throws: ModelInfoError.self) { try ModelInfo(metadata: old, file: "m.safetensors") }
        #expect(error?.key == "segviz.format" && error?.file == "m.safetensors")
        #expect(error?.description.contains("(i, j, k)") == true)
    }
}
