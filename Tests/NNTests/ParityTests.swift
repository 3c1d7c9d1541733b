import Foundation
import Testing
import Tensor
@testable import NN

/// Number-for-number agreement with MONAI 1.6.1 (fixtures in ../shared/fixtures/monai-unet).
@Suite struct ParityTests {
    @Test(arguments: ["unet-small-instance", "unet-small-batch"])
    func matchesMONAI(_ name: String) throws {
        let manifest = try Fixtures.manifest()
        let c = manifest.cases.first { ($0["file"] as! String) == name + ".safetensors" }!
        let f = try SafetensorsFile.read(path: Fixtures.monaiUNet.appendingPathComponent(name + ".safetensors").path)
        let net = UNet(Fixtures.config(c["config"] as! [String: Any]))
        #expect(net.parameters.parameterCount == c["param_count"] as! Int)
        try net.load(f, prefix: "init.")
        let input = f.tensor("input"), labels = f.labels("labels")

        // Forward in eval mode (running statistics) and train mode (batch statistics).
        let eval = net.forward(input, training: false).scalars
        let evalRef = f.floats("eval_logits_init")
        let evalErr = maxAbsDiff(eval, evalRef) / maxAbs(evalRef)
        #expect(evalErr < 1e-6, "eval logits: relative error \(evalErr)")

        net.parameters.zeroGradients()
        let x = Activation(input)
        let logits = net.forwardActivation(x, training: true)
        let trainRef = f.floats("train_logits")
        let trainErr = maxAbsDiff(logits.buffer.array, trainRef) / maxAbs(trainRef)
        #expect(trainErr < 1e-6, "train logits: relative error \(trainErr)")

        let loss = DiceCELoss()
        let (l, g) = loss.compute(logits, labels: loss.labelIndices(labels, logits: logits.shape))
        let lossRef = c["loss"] as! Double
        #expect(abs(l - lossRef) / lossRef < 1e-7, "loss \(l) vs MONAI \(lossRef)")
        net.backwardActivation(g)

        // Every element of every gradient (small tensors included): |g - ref| <= atol + rtol |ref|, with
        // tolerances fixed here: MONAI's own float32 rerun agrees to about 4e-8 absolute (fixture README).
        let atol: Float = 1e-7, rtol: Float = 1e-5
        let zeroGrad = Set(c["zero_grad_params"] as! [String])
        var worst: (Float, String) = (0, "")
        var before: [String: [Float]] = [:], gradients: [String: [Float]] = [:]
        for b in net.parameters.blocks where b.kind == .parameter {
            let ref = f.floats("grad." + b.name), ours = net.parameters.flatGradients([b])
            before[b.name] = net.parameters.flat([b]); gradients[b.name] = ours
            if zeroGrad.contains(b.name) {
                // True gradient exactly 0 (a bias feeding a normalisation): ours must be rounding noise.
                #expect(maxAbs(ours) <= atol, "\(b.name): gradient should vanish, max \(maxAbs(ours))")
                continue
            }
            for i in ref.indices where abs(ours[i] - ref[i]) > worst.0 { worst = (abs(ours[i] - ref[i]), "\(b.name)[\(i)]") }
            let bad = ref.indices.filter { abs(ours[$0] - ref[$0]) > atol + rtol * abs(ref[$0]) }
            #expect(bad.isEmpty, "gradient \(b.name): \(bad.count) of \(ref.count) elements off, first \(bad.first.map { "[\($0)] \(ours[$0]) vs \(ref[$0])" } ?? "")")
        }
        print("parity \(name): eval \(evalErr) train \(trainErr) loss \(l) vs \(lossRef); worst gradient error \(worst.0) at \(worst.1)")

        // One Adam step; running statistics updated by the train forward. For the zero-gradient biases MONAI's
        // step is its own rounding noise amplified by Adam (up to lr), so ours is checked against Adam's first
        // step written out here from our gradient g instead: p - lr * g / (|g| + eps) (m and v bias-corrected).
        let lr = 1e-3, eps = 1e-8
        let adam = Adam(net.parameters, learningRate: Float(lr))
        adam.step()
        for b in net.parameters.blocks {
            let ours = net.parameters.flat([b])
            if zeroGrad.contains(b.name), let p0 = before[b.name], let g = gradients[b.name] {
                let expected = p0.indices.map { Double(p0[$0]) - lr * Double(g[$0]) / (abs(Double(g[$0])) + eps) }
                let err = ours.indices.map { abs(Double(ours[$0]) - expected[$0]) }.max() ?? 0
                #expect(err <= 1e-6, "after Adam \(b.name): max abs error \(err) from the hand-written first step")
                continue
            }
            let ref = f.floats("after_adam." + b.name)
            let err = maxAbsDiff(ours, ref)
            let tol: Float = b.kind == .buffer ? 1e-6 : 3e-5
            #expect(err <= tol, "after Adam \(b.name): max abs error \(err) > \(tol)")
        }
        for ib in net.parameters.integerBuffers {
            guard case let .i64(_, v)? = f.tensors["after_adam." + ib.name] else { Issue.record("no counter \(ib.name)"); continue }
            #expect(ib.value == v[0], "\(ib.name): \(ib.value) vs \(v[0])")
        }
    }

    @Test func segvizStateDictMatchesManifest() throws {
        let sc = try Fixtures.manifest().segviz
        let net = UNet(Fixtures.config(sc["config"] as! [String: Any]))
        let expected = (sc["state_dict"] as! [[Any]]).map { ($0[0] as! String, $0[1] as! [Int]) }
        let ours = net.parameters.stateDict()
        #expect(ours.names == expected.map(\.0))
        #expect(ours.names.map { ours.tensors[$0]!.shape } == expected.map(\.1))
        #expect(net.parameters.parameterCount == sc["param_count"] as! Int)
        #expect(sc["task_head_prefix"] as! String == UNetConfig.taskHeadPrefix)
        #expect(!net.parameters.blocks(prefix: UNetConfig.taskHeadPrefix).isEmpty)
        #expect(UNet(.segviz(outChannels: 3)).parameters.parameterCount == 4_809_920)
    }
}
