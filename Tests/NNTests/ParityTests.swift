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

        // Every gradient, absolute tolerance scaled to the case's largest gradient.
        let gmax = Float(c["grad_abs_max"] as! Double)
        let zeroGrad = Set(c["zero_grad_params"] as! [String])
        var worst: (Float, String) = (0, "")
        for b in net.parameters.blocks where b.kind == .parameter {
            let ref = f.floats("grad." + b.name), ours = net.parameters.flatGradients([b])
            let err = maxAbsDiff(ours, ref)
            if zeroGrad.contains(b.name) {
                #expect(maxAbs(ours) < 1e-6 * gmax, "\(b.name): gradient should vanish, max \(maxAbs(ours))")
            } else {
                if err > worst.0 { worst = (err, b.name) }
                #expect(err < 4e-7 * gmax, "gradient \(b.name): max abs error \(err) (largest gradient \(gmax))")
            }
        }
        print("parity \(name): eval \(evalErr) train \(trainErr) loss \(l) vs \(lossRef); worst gradient error \(worst.0) at \(worst.1)")

        // One Adam step; running statistics updated by the train forward.
        let adam = Adam(net.parameters, learningRate: 1e-3)
        adam.step()
        for b in net.parameters.blocks {
            let ref = f.floats("after_adam." + b.name), ours = net.parameters.flat([b])
            let err = maxAbsDiff(ours, ref)
            let tol: Float = zeroGrad.contains(b.name) ? 1e-3 * 1.001 : (b.kind == .buffer ? 1e-6 : 3e-5)
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
