import Foundation
import Imaging
import NN
import Tensor

/// A node's held-out cases (``FederationFile/ModelSelectionSpec``): kept out of training for good, and used in
/// each round to score the global model the node received, by Dice per organ the node annotates.
///
/// Scoring runs on the preprocessed cases (the network's grid: RAS, training spacing, HU window) with a sliding
/// window of the training patch, as the node sees them in training. For `single`, organs the node does not
/// annotate count as background (as the marginal loss trains it); for `heads`, each voxel takes the most
/// confident of the node's heads above 0.5.
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
            throw FederationError.invalidArgument(name: "modelSelection.heldOutCases", problem:
                "the node has \(set.items.count) usable case(s); holding out \(count) leaves none to train on")
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
        let window = SlidingWindow(roi: roi, overlap: 0.25)
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

    /// Federation labels of a preprocessed `image` for this node's organs.
    func predictLabels(model: FederatedModel, image: Volume, window: SlidingWindow) throws -> Volume {
        let n = image.grid.count
        var labels = [Float](repeating: 0, count: n)
        switch model.strategy {
        case .single:
            let net = model.network()
            let p = try channelSoftmax(window(image.tensor, predictor: { net.predict($0) }))
            let k = p.count / n
            for v in 0..<n {
                var best = 0, top = -Float.infinity
                var background: Float = 0
                for c in 0..<k where c == 0 || !organs.contains(where: { $0.rawValue == c }) { background += p[c * n + v] }
                top = background
                for o in organs where o.rawValue < k && p[o.rawValue * n + v] > top { top = p[o.rawValue * n + v]; best = o.rawValue }
                labels[v] = Float(best)
            }
        case .heads:
            var confidence = [Float](repeating: 0.5, count: n)
            for o in organs {
                let net = model.network(organ: o.description)
                let p = try channelSoftmax(window(image.tensor, predictor: { net.predict($0) }))
                for v in 0..<n where p[n + v] > confidence[v] { confidence[v] = p[n + v]; labels[v] = Float(o.rawValue) }
            }
        }
        return Volume(grid: image.grid, tensorOrder: labels[...])
    }
}
