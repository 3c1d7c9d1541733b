import Foundation
import Imaging
import NN
import Tensor

/// A node's held-out cases (``FederationFile/ModelSelectionSpec``): kept out of training for good, and used in
/// each round to score the global model the node received, by Dice per organ the node annotates.
///
/// Scoring runs on the preprocessed cases (the network's grid: RAS, training spacing, HU window) with a sliding
/// window of the training patch, as the node sees them in training, and labels them as the global model labels
/// a CT in use (every class competes, then each organ keeps its largest connected component, as `segviz infer`
/// does by default); only the organs the node annotates are scored, since its labels say nothing about the others.
public struct HeldOutValidation: Sendable {
    /// The held-out cases.
    public let items: [TrainingSet.Item]
    /// The organs scored (those the node annotates).
    public let organs: [Organ]
    /// Sliding-window size (the training patch).
    public let roi: [Int]

    /// Creates a validation over `items`.
    public init(items: [TrainingSet.Item], organs: [Organ], roi: [Int]) {
        self.items = items
        self.organs = organs.sorted()
        self.roi = roi
    }

    /// Splits `set`: `count` cases, chosen by a shuffle seeded with `seed` (the node's own seed, so the choice is
    /// the same in every round and after a restart), are held out; the rest are the training set. Throws when
    /// fewer than one case would remain for training.
    public static func split(_ set: TrainingSet, count: Int, seed: UInt64) throws -> (training: TrainingSet, heldOut: [TrainingSet.Item]) {
        guard count > 0 else { return (set, []) }
        guard set.items.count > count else {
            throw FederationError.invalidField(field: "modelSelection.heldOutCases", value: "\(count)",
                                               expected: "fewer than this node's \(set.items.count) usable case(s), so that some remain to train on")
        }
        var rng = SeededRandom(seed: seed, stream: 0x4845_4C44_4F55_54)  // "HELDOUT"
        var order = set.items.indices.sorted { set.items[$0].id < set.items[$1].id }
        order.shuffle(using: &rng)
        let held = Set(order.prefix(count))
        var training = set
        training.items = set.items.indices.filter { !held.contains($0) }.map { set.items[$0] }
        let trainIDs = Set(training.items.map(\.id))
        training.originals = set.originals.filter { trainIDs.contains($0.source.id) }
        return (training, order.prefix(count).sorted().map { set.items[$0] })
    }

    /// Dice of `model` on every held-out case, summed per organ, with the case count.
    public func scores(model: FederatedModel) throws -> HeldOutScores {
        let window = SlidingWindow(roi: roi, overlap: GlobalModelInference.defaultOverlap)
        var out: [String: (sum: Double, count: Int)] = [:]
        for item in items {
            let labels = try predictLabels(model: model, image: item.image, window: window)
            for organ in organs {
                let d = Metrics.dice(labels, item.label, label: organ.rawValue)
                let prev = out[organ.description] ?? (0, 0)
                out[organ.description] = (prev.sum + d, prev.count + 1)
            }
        }
        return HeldOutScores(organs: out)
    }

    /// Federation labels of a preprocessed `image` as the global model labels a CT (`segviz infer`): the argmax
    /// over every class (`single`), or the most confident of every organ's head above 0.5 (`heads`), then each
    /// organ's largest connected component (``GlobalModelInference``'s default post-processing).
    func predictLabels(model: FederatedModel, image: Volume, window: SlidingWindow) throws -> Volume {
        let n = image.grid.count
        var labels = [Float](repeating: 0, count: n)
        switch model.strategy {
        case .single:
            let net = model.network()
            let p = try channelSoftmax(window(image.tensor, predictor: { net.predict($0) }))
            for v in 0..<n {
                var best = 0
                for c in 1..<(p.count / n) where p[c * n + v] > p[best * n + v] { best = c }
                labels[v] = Float(best)
            }
        case .heads:
            var confidence = [Float](repeating: 0.5, count: n)
            for (i, organ) in model.organs.enumerated() {
                let net = model.network(organ: organ)
                let p = try channelSoftmax(window(image.tensor, predictor: { net.predict($0) }))
                for v in 0..<n where p[n + v] > confidence[v] { confidence[v] = p[n + v]; labels[v] = Float(i + 1) }
            }
        }
        return Volume(grid: image.grid, tensorOrder: labels[...])
            .keepingLargestComponent(of: model.labelValues)
    }
}
