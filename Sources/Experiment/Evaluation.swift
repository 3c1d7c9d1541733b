import Federation
import Foundation
import Imaging
import NN

/// Dice and HD95 of one organ in one external case.
public struct CaseScore: Codable, Sendable, Equatable {
    /// External case id.
    public var caseID: String
    /// Organ name.
    public var organ: String
    /// Dice.
    public var dice: Double
    /// 95th-percentile Hausdorff distance in mm; nil when the prediction or the truth is empty.
    public var hd95: Double?
}

/// Scores models on the external set with whole-volume sliding-window inference on each case's own grid.
struct Evaluator {
    let external: [LabelledVolume]
    let segmenter: Segmenter

    init(data: ExperimentData, patch: [Int]) {
        external = data.external
        segmenter = Segmenter(preprocessing: data.preprocessing, window: SlidingWindow(roi: patch, overlap: 0.25))
    }

    /// Federation labels of `image` predicted by `model` for `organs` only: for `single` the argmax with other
    /// organs merged into background; for `heads` the most confident of those organs' heads above 0.5.
    func segment(_ image: Volume, model: FederatedModel, organs: [Organ]) throws -> Volume {
        switch model.strategy {
        case .single:
            let net = model.network()
            return try segmenter.segment(image, predictor: { net.predict($0) }, organs: Set(organs))
        case .heads:
            var best = Volume(grid: image.grid, repeating: 0.5)
            var labels = Volume(grid: image.grid, repeating: 0)
            for organ in organs.sorted() {
                let net = model.network(organ: organ.description)
                let p = try segmenter.probabilities(image, predictor: { net.predict($0) })[1]
                for n in p.voxels.indices where p.voxels[n] > best.voxels[n] {
                    best.voxels[n] = p.voxels[n]
                    labels.voxels[n] = Float(organ.rawValue)
                }
            }
            return labels
        }
    }

    /// Mean Dice per organ over the external cases.
    func meanDice(model: FederatedModel, organs: [Organ]) throws -> [String: Double] {
        var sums: [String: Double] = [:]
        for c in external {
            let pred = try segment(c.image, model: model, organs: organs)
            for o in organs { sums[o.description, default: 0] += Metrics.dice(pred, c.label, label: o.rawValue) }
        }
        return sums.mapValues { $0 / Double(max(external.count, 1)) }
    }

    /// Dice and HD95 per case and organ, and the predicted label maps (for the overlays).
    func scores(model: FederatedModel, organs: [Organ]) throws -> (scores: [CaseScore], predictions: [Volume]) {
        var scores: [CaseScore] = []
        var predictions: [Volume] = []
        for c in external {
            let pred = try segment(c.image, model: model, organs: organs)
            for o in organs {
                let s = Metrics.score(pred, c.label, label: o.rawValue)
                scores.append(CaseScore(caseID: c.source.id, organ: o.description, dice: s.dice, hd95: s.hd95))
            }
            predictions.append(pred)
        }
        return (scores, predictions)
    }
}
