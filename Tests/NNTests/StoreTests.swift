import Foundation
import Testing
import Tensor
@testable import NN

@Suite struct StoreTests {
    static let config = UNetConfig(outChannels: 2, channels: [4, 8, 16], strides: [2, 2], numResUnits: 2, norm: .batch)

    @Test func selectAndSetBlocksByName() {
        let net = UNet(Self.config, seed: 1)
        let store = net.parameters
        let head = store.blocks(prefix: UNetConfig.taskHeadPrefix)
        #expect(!head.isEmpty && head.allSatisfy { $0.name.hasPrefix("model.2.") })
        let norms = store.blocks(containing: ".adn.N.")
        #expect(norms.contains { $0.kind == .buffer } && norms.allSatisfy { $0.name.contains(".adn.N.") })
        // Blocks tile the flat vector in order.
        var at = 0
        for b in store.blocks { #expect(b.offset == at); at += b.count }
        #expect(at == store.count)
        // Setting the head changes exactly the head.
        let before = store.flat()
        let v = (0..<head.reduce(0) { $0 + $1.count }).map { Float($0) }
        store.setFlat(v, head)
        #expect(store.flat(head) == v)
        let after = store.flat()
        let headIdx = Set(head.flatMap { Array($0.range) })
        #expect(after.indices.allSatisfy { headIdx.contains($0) || after[$0] == before[$0] })
        store.setFlat(before)
        #expect(store.flat() == before)
        let name = "model.0.conv.unit0.conv.weight"
        #expect(store[name].shape == [4, 1, 3, 3, 3])
    }

    @Test func safetensorsRoundTripWithCounters() throws {
        let a = UNet(Self.config, seed: 1)
        var rng = SplitMix64(seed: 3)
        let x = Tensor(shape: [1, 1, 8, 8, 8], scalars: (0..<512).map { _ in rng.nextUnit() })
        let y = Tensor(shape: [1, 1, 8, 8, 8], scalars: (0..<512).map { _ in Float(rng.next() % 2) })
        a.trainStep(input: x, labels: y, optimizer: Adam(a.parameters))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("segviz-nn-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try a.save(path: path, metadata: ["round": "1"])
        let b = UNet(Self.config, seed: 2)
        #expect(b.parameters.flat() != a.parameters.flat())
        try b.load(path: path)
        #expect(b.parameters.flat() == a.parameters.flat())
        #expect(b.parameters.integerBuffers == a.parameters.integerBuffers)
        #expect(b.parameters.integerBuffers.allSatisfy { $0.value == 1 })
        #expect(b.predict(x) == a.predict(x))
        let c = UNet(Self.config, seed: 5)
        c.parameters.copy(from: a.parameters)
        #expect(c.parameters.flat() == a.parameters.flat() && c.parameters.integerBuffers == a.parameters.integerBuffers)
        let f = try SafetensorsFile.read(path: path)
        #expect(f.metadata["round"] == "1")
        #expect(f.tensors["model.0.conv.unit0.adn.N.num_batches_tracked"]?.dtype == "I64")
        // A file lacking a key, or with a wrong shape or dtype, is refused, naming the key, without changing
        // the model (b holds a's values; the broken files are built from another model's).
        let other = UNet(Self.config, seed: 7).parameters.stateDict()
        let head = "model.2.0.conv.bias", counter = "model.0.conv.unit0.adn.N.num_batches_tracked"
        var lacking = other
        lacking.tensors[head] = nil
        lacking.names.removeAll { $0 == head }
        #expect(throws: StateDictError.missing(file: "<state_dict>", key: head)) { try b.parameters.load(lacking) }
        #expect(b.parameters.flat() == a.parameters.flat())
        var lackingCounter = other
        lackingCounter.tensors[counter] = nil
        lackingCounter.names.removeAll { $0 == counter }
        #expect(throws: StateDictError.missing(file: "<state_dict>", key: counter)) { try b.parameters.load(lackingCounter) }
        #expect(b.parameters.flat() == a.parameters.flat() && b.parameters.integerBuffers == a.parameters.integerBuffers)
        var wrongShape = other
        wrongShape.tensors[head] = .f32(shape: [3], values: [0, 0, 0])
        #expect(throws: StateDictError.mismatch(file: "<state_dict>", key: head, detail: "shape [3], expected [2]")) {
            try b.parameters.load(wrongShape)
        }
        #expect(b.parameters.flat() == a.parameters.flat())
    }

    /// The marginal loss with a map that merges nothing equals the plain loss; merging changes it.
    @Test func marginalLossReducesToPlain() {
        var rng = SplitMix64(seed: 4)
        let logits = Tensor(shape: [1, 3, 4, 4, 4], scalars: (0..<192).map { _ in rng.nextUnit() * 4 - 2 })
        let labels = Tensor(shape: [1, 1, 4, 4, 4], scalars: (0..<64).map { _ in Float(rng.next() % 3) })
        let plain = DiceCELoss()(logits: logits, labels: labels)
        let same = DiceCELoss.marginal(classes: 3, annotated: [1, 2])(logits: logits, labels: labels)
        #expect(abs(plain.loss - same.loss) < 1e-6)
        #expect(maxAbsDiff(plain.gradient.scalars, same.gradient.scalars) < 1e-7)
        let merged = DiceCELoss.marginal(classes: 3, annotated: [2])
        #expect(merged.classMap == [0, 0, 1])
        #expect(abs(merged(logits: logits, labels: labels).loss - plain.loss) > 1e-3)
    }
}

/// The worker count changes only the order of a few sums, never the result beyond rounding
/// (guards the tiled kernels against races at realistic sizes).
@Suite(.serialized) struct ThreadInvarianceTests {
    @Test func oneAndTwoWorkersAgree() {
        let config = UNetConfig(outChannels: 3, channels: [8, 16, 32], strides: [2, 2], numResUnits: 2, norm: .batch)
        var rng = SplitMix64(seed: 12)
        let x = Tensor(shape: [2, 1, 32, 24, 16], scalars: (0..<(2 * 32 * 24 * 16)).map { _ in rng.nextUnit() })
        let y = Tensor(shape: [2, 1, 32, 24, 16], scalars: (0..<(2 * 32 * 24 * 16)).map { _ in Float(rng.next() % 3) })
        let saved = Compute.threads
        defer { Compute.threads = saved }
        var results: [(logits: [Float], grads: [Float], loss: Float)] = []
        for t in [1, 2, 3] {
            Compute.threads = t
            let net = UNet(config, seed: 4)
            let loss = net.lossAndGradients(input: x, labels: y)
            results.append((net.predict(x).scalars, net.parameters.flatGradients(), loss))
        }
        for r in results.dropFirst() {
            #expect(maxAbsDiff(r.logits, results[0].logits) <= 1e-5 * maxAbs(results[0].logits))
            #expect(maxAbsDiff(r.grads, results[0].grads) <= 1e-5 * maxAbs(results[0].grads))
            #expect(abs(r.loss - results[0].loss) <= 1e-6 * results[0].loss)
        }
    }
}
