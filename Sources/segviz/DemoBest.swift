import Federation
import Foundation
import Imaging
import Tensor

/// The demo's report on the model selected by the sites' held-out scores (`global-best.safetensors`): verified,
/// then evaluated on the external set, which only reports and never selects.
enum DemoBest {
    /// The best model's round, path and external Dice; without model selection (no `bestModelRound` in the
    /// ledger) the last model stands in, as said on the console.
    static func evaluate(state: String, records: [LedgerRecord], last: (round: Int, path: String, dice: [String: Double]),
                         publicKey: Minisign.PublicKey, roi: [Int], dataset: Dataset, mapping: LabelMapping,
                         pool: ComputePool, say: (String) -> Void) async throws -> (round: Int, path: String, dice: [String: Double]) {
        guard let round = records.last(where: { $0.status == .completed })?.bestModelRound else {
            say("model selection off: the best model is the last one")
            return last
        }
        let path = ModelStore.bestPath(stateDirectory: state)
        let verified = try VerifiedModel.open(path: path, publicKey: publicKey)
        say("verified \(path) (\(verified.trustedComment)): selected on the sites' held-out cases")
        if round == last.round { return (round, path, last.dice) }
        let inference = try GlobalModelInference(verified: verified, roi: roi)
        let dice = try await pool.run { try inference.meanDice(dataset: dataset, mapping: mapping) }
        return (round, path, dice)
    }
}
