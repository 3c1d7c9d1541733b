import Foundation
import Tensor

/// What one round's validation sums said, as the ledger records it. The scores sent in round r evaluate the
/// global model the round started from (`modelRound`, usually r − 1; after an aborted round, older), which is
/// the model every survivor verified and bound into the round's configuration.
public struct RoundValidation: Codable, Equatable, Sendable {
    /// The global model the scores evaluate.
    public var modelRound: Int
    /// Per organ: the Dice sum over every surviving node's held-out cases.
    public var diceSums: [String: Double]
    /// Per organ: the number of those cases.
    public var counts: [String: Int]
    /// Per organ: how many survivors annotate it (from the federation file and the survivor set).
    public var annotatingSurvivors: [String: Int]
    /// `organs`: the mean over organs of each organ's mean Dice; `pooled`: some organ had too few annotating
    /// survivors, so the score is the mean over all organs' held-out cases together; `none`: no cases.
    public var basis: String
    /// The selection score (nil with basis `none`).
    public var score: Double?
}

/// The aggregator's choice of the best global model by the nodes' held-out scores (never an external set).
/// A pure value: ``consider(_:)`` takes each round's ``RoundValidation``; a restarted aggregator rebuilds it by
/// replaying the ledger (``restore(records:)``). Ties keep the earlier model.
public struct ModelSelection: Sendable, Equatable {
    /// The best model so far: its round and score.
    public private(set) var best: (round: Int, score: Double)?

    /// No model chosen yet.
    public init() {}

    public static func == (a: ModelSelection, b: ModelSelection) -> Bool {
        a.best?.round == b.best?.round && a.best?.score == b.best?.score
    }

    /// The validation of a round of `federation` that started from model `modelRound`, from the summed scores and
    /// the surviving node ids. An organ's own mean counts only when at least `minimumContributors` survivors
    /// annotate it (the rule of every block of the secure vector); otherwise the score is the pooled mean.
    public static func validation(sums: ValidationVector.Sums, federation f: FederationFile, survivors: [String],
                                  modelRound: Int) -> RoundValidation {
        let minimum = ValidationVector.minimumContributors(f)
        var annotating: [String: Int] = [:]
        for o in f.organNames { annotating[o] = survivors.filter { f.node($0)?.organs.contains(o) == true }.count }
        var v = RoundValidation(modelRound: modelRound, diceSums: sums.diceSums, counts: sums.counts,
                                annotatingSurvivors: annotating, basis: "none", score: nil)
        let organs = f.organNames
        if organs.allSatisfy({ (annotating[$0] ?? 0) >= minimum && (sums.counts[$0] ?? 0) > 0 }) {
            v.basis = "organs"
            v.score = organs.map { (sums.diceSums[$0] ?? 0) / Double(sums.counts[$0] ?? 1) }.reduce(0, +) / Double(organs.count)
        } else {
            let n = organs.map { sums.counts[$0] ?? 0 }.reduce(0, +)
            if n > 0 {
                v.basis = "pooled"
                v.score = organs.map { sums.diceSums[$0] ?? 0 }.reduce(0, +) / Double(n)
            }
        }
        return v
    }

    /// Takes one round's validation; true when its model becomes the best.
    @discardableResult
    public mutating func consider(_ v: RoundValidation) -> Bool {
        guard let s = v.score, s.isFinite else { return false }
        if let b = best, b.score >= s { return false }
        best = (v.modelRound, s)
        return true
    }

    /// The selection a ledger's completed rounds imply.
    public static func restore(records: [LedgerRecord]) -> ModelSelection {
        var s = ModelSelection()
        for r in records where r.status == .completed { if let v = r.validation { s.consider(v) } }
        return s
    }

    /// The trusted comment signed on the best model's copy: like a round's, marked `best`, so that no node takes
    /// it for a round's model (``RoundContext/parseTrustedComment(_:)`` refuses it).
    public static func bestTrustedComment(modelRound: Int, hashHex: String) -> String {
        "segviz best global model round=\(modelRound) file_blake2b256=\(hashHex)"
    }
}

extension ModelStore {
    /// The best model's file name in the models folder.
    public static let bestFileName = "global-best.safetensors"

    /// Path of the best global model in the aggregator state directory `stateDirectory`.
    public static func bestPath(stateDirectory: String) -> String {
        URL(fileURLWithPath: modelsDirectory(stateDirectory: stateDirectory)).appendingPathComponent(bestFileName).path
    }

    /// Makes `global-best.safetensors` a signed copy of round `round`'s model, unless it already is one (checked
    /// by content and signature): the file, then its signature, each written atomically. Returns whether it wrote.
    @discardableResult
    func writeBest(round: Int, key: IdentityKey) throws -> Bool {
        let source = try ModelSignature.verifyFile(path: path(round: round), publicKey: key.publicKey).bytes
        let h = hex(FedCrypto.blake2b256(source))
        let target = Self.bestPath(stateDirectory: directory)
        let comment = ModelSelection.bestTrustedComment(modelRound: round, hashHex: h)
        if let present = try? ModelSignature.verifyFile(path: target, publicKey: key.publicKey), present.bytes == source,
           present.trustedComment == comment {
            return false
        }
        try AtomicFile.write(path: target, contents: Data(source))
        try ModelSignature.signFile(path: target, key: key, trustedComment: comment)
        return true
    }
}
