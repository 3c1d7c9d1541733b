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

/// Scores models on the external set with whole-volume sliding-window inference on each case's own grid
/// (Federation's ``GlobalModelInference``, as `segviz infer` runs it).
struct Evaluator {
    let external: [LabelledVolume]
    let preprocessing: Preprocessing
    let patch: [Int]

    init(data: ExperimentData, patch: [Int]) {
        external = data.external
        preprocessing = data.preprocessing
        self.patch = patch
    }

    /// Federation labels of `image` predicted by `model` for `organs` only (``GlobalModelInference/segment(_:organs:)``).
    func segment(_ image: Volume, model: FederatedModel, organs: [Organ]) throws -> Volume {
        try GlobalModelInference(model: model, preprocessing: preprocessing, roi: patch, overlap: GlobalModelInference.defaultOverlap).segment(image, organs: organs)
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
