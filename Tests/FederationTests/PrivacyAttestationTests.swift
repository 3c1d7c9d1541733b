import Foundation
import NN
import Testing
@testable import Federation

/// Issue 20: what is published about the privacy budget. Each node signs, per attempt, that its spent epsilon is
/// within the federation's budget (``PrivacyAttestation``, no figure of its own); the aggregator refuses the masked
/// input of a node that has not attested; the ledger and the signed model carry the budget and the attestations,
/// re-verifiable offline against the federation file; a federation whose nodes run out of budget stops, recorded.
@Suite(.serialized) struct PrivacyAttestationTests {
    /// The budget the federation tests use: fixed noise multiplier 1, sample rate 0.5, so one local epoch is
    /// 2 DP-SGD steps; `epsilon` is the budget.
    static func spec(epsilon: Double) -> FederationFile.PrivacySpec {
        .init(epsilon: epsilon, delta: 1e-5, clip: 1, sampleRate: 0.5, noiseMultiplier: 1)
    }

    /// A small federation of 3 nodes with `privacy` set after the file was validated: the validator refuses a
    /// file whose planned rounds exceed the budget, so this stands in for nodes that spent part of it elsewhere
    /// (retrained attempts after restarts); the aggregator and the nodes share the same file, hence fingerprint.
    static func privateFederation(dir: String, port: Int, rounds: Int, budget: Double,
                                  customise: (inout FederationFile) -> Void = { _ in }) throws -> FederationFile {
        var f = try smallFederation(dir: dir, rounds: rounds, port: port) { f in
            f.network.norm = "instance"
            customise(&f)
        }
        f.privacy = spec(epsilon: budget)
        return f
    }

    /// An attestation verifies against the signer's listed key; each changed field is refused naming it; another
    /// node's key, another federation, another sender and a missing field are refused; the wire form carries
    /// exactly the public fields (no count, no spent epsilon).
    @Test func attestationsVerifyAndNameTheField() throws {
        let dir = try temporaryDirectory()
        let f = try Self.privateFederation(dir: dir, port: 1, rounds: 2, budget: 8)
        let key0 = try KeyFiles.loadSecretKey(path: dir + "/keys/node0.key")
        let key1 = try KeyFiles.loadSecretKey(path: dir + "/keys/node1.key")
        let session = String(repeating: "ab", count: 32)
        let a = try PrivacyAttestation.make(federation: f, node: "node0", round: 3, session: session, key: key0)
        try a.verify(federation: f)
        try a.verify(federation: f, sender: "node0", round: 3, session: session)
        #expect(try PrivacyAttestation(body: a.body) == a)
        let keys = try #require(JSONSerialization.jsonObject(with: Data(a.body)) as? [String: Any]).keys.sorted()
        #expect(keys == ["delta", "epsilon", "federationFingerprint", "node", "round", "session", "signature", "statement"])
        #expect(a.epsilon == 8 && a.delta == 1e-5)

        func field(_ change: (inout PrivacyAttestation) -> Void) -> String? {
            var b = a
            change(&b)
            do throws(PrivacyAttestation.Problem) { try b.verify(federation: f) } catch { return error.field }
            return nil
        }
        #expect(field { $0.epsilon = 9 } == "epsilon")
        #expect(field { $0.delta = 1e-3 } == "delta")
        #expect(field { $0.federationFingerprint = String(repeating: "0", count: 64) } == "federationFingerprint")
        #expect(field { $0.statement = "spent 3.2 of 8" } == "statement")
        #expect(field { $0.session = "xyz" } == "session")
        #expect(field { $0.node = "stranger" } == "node")
        // Signed fields that the federation file cannot check on their own: the signature catches them.
        #expect(field { $0.round = 4 } == "signature")
        #expect(field { $0.session = String(repeating: "cd", count: 32) } == "signature")
        #expect(field { $0.node = "node1" } == "signature")
        #expect(field { $0.signature = "AAAA" } == "signature")
        // node1's key signing for node0.
        var forged = a
        forged.signature = Data(key1.sign(a.signedBytes)).base64EncodedString()
        #expect(throws: PrivacyAttestation.Problem.signatureDoesNotVerify(node: "node0")) { try forged.verify(federation: f) }
        // Another sender, round or session than the request's.
        #expect(throws: PrivacyAttestation.Problem.self) { try a.verify(federation: f, sender: "node1", round: 3, session: session) }
        #expect(throws: PrivacyAttestation.Problem.self) { try a.verify(federation: f, sender: "node0", round: 2, session: session) }
        // A federation without a budget, a missing field, an oversized body.
        var plain = f
        plain.privacy = nil
        #expect(throws: PrivacyAttestation.Problem.self) { try a.verify(federation: plain) }
        var obj = try #require(JSONSerialization.jsonObject(with: Data(a.body)) as? [String: Any])
        obj.removeValue(forKey: "signature")
        let missing = try JSONSerialization.data(withJSONObject: obj)
        #expect(throws: PrivacyAttestation.Problem.malformed(field: "signature", reason: "missing")) { try PrivacyAttestation(body: Array(missing)) }
        #expect(throws: PrivacyAttestation.Problem.self) { try PrivacyAttestation(body: Array(repeating: 32, count: 3000)) }
        // The ledger form: a record whose survivor did not attest, or whose attestation was altered, is named.
        let privacy = RoundPrivacy(f.privacy!, attestations: [a])
        #expect(privacy.problems(federation: f, round: 3, survivors: ["node0"]).isEmpty)
        #expect(privacy.problems(federation: f, round: 3, survivors: ["node0", "node1"]) == ["no privacy attestation from node1"])
        #expect(privacy.problems(federation: f, round: 2, survivors: nil).count == 1)
        #expect(RoundPrivacy(manifestText: privacy.manifestText) == privacy)
    }

    /// The aggregator takes an attestation only for the current attempt, from its own signer, under a budget:
    /// another session is 409, node1's attestation sent by node0 is 400 naming the field, and a federation without
    /// `privacy` refuses attestations (409).
    @Test func theAggregatorChecksEachAttestation() async throws {
        let dir = try temporaryDirectory()
        let f = try Self.privateFederation(dir: dir, port: 1, rounds: 1, budget: 8)
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { _ in })
        let a = await coord.announcement()
        let key0 = try KeyFiles.loadSecretKey(path: dir + "/keys/node0.key")
        let key1 = try KeyFiles.loadSecretKey(path: dir + "/keys/node1.key")
        func status(_ node: String, _ x: PrivacyAttestation, session: String? = nil, on c: Coordinator) async -> Int {
            do { try await c.attest(node: node, round: a.round, session: session ?? a.session, attestation: x); return 202 } catch {
                return (error as? Coordinator.Refusal)?.status ?? -1
            }
        }
        let own = try PrivacyAttestation.make(federation: f, node: "node0", round: a.round, session: a.session, key: key0)
        let other = String(repeating: "cd", count: 32)
        #expect(await status("node0", own, session: other, on: coord) == 409)
        let node1s = try PrivacyAttestation.make(federation: f, node: "node1", round: a.round, session: a.session, key: key1)
        #expect(await status("node0", node1s, on: coord) == 400)
        #expect(await coord.attestations.isEmpty)
        #expect(await status("node0", own, on: coord) == 202)
        #expect(await coord.attestations.keys.sorted() == ["node0"])
        var plain = f
        plain.privacy = nil
        let plainCoord = try Coordinator(federation: plain, stateDirectory: dir + "/plain", key: aggKey, log: { _ in })
        #expect(await status("node0", own, on: plainCoord) == 409)
    }

    /// The attack: under `privacy`, node2 (``MaliciousNode``, test code) skips its attestation and sends its masked
    /// input anyway. The aggregator refuses that input (409), node2 drops out at MaskedInput, and the round
    /// completes from node0 and node1, whose attestations the ledger and the signed model carry. (With the check
    /// disabled, node2's update entered the model unattested: survivors node0, node1, node2.)
    @Test(.timeLimit(.minutes(5))) func aNodeThatSkipsItsAttestationIsRefused() async throws {
        let dir = try temporaryDirectory()
        let port = freePort()
        let f = try Self.privateFederation(dir: dir, port: port, rounds: 1, budget: 50) { f in
            f.secureAggregation.threshold = 2
            f.secureAggregation.collusionTolerance = .none
            f.phaseTimeoutSeconds = 10
        }
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { sink.append("agg: " + $0) })
        let attacker = MaliciousNode(federation: f, id: "node2", key: try KeyFiles.loadSecretKey(path: dir + "/keys/node2.key"),
                                     delta: 0.01, log: { sink.append("node2: " + $0) })
        let attack = Task { try await attacker.takePartWithoutAttesting() }
        let (errors, _) = try await HonestExitTests.runFederation(f, dir: dir, coordinator: coord, nodes: [0, 1], sink: sink, port: port)
        let attacked = await attack.result
        let logs = sink.all.joined(separator: "\n")
        #expect(errors.values.allSatisfy { $0 == nil }, "\(errors) \(logs)")
        let refused = if case .failure(let e as AggregatorClient.HTTPFailure) = attacked { e.status == 409 } else { false }
        #expect(refused, "the unattested node was not refused: \(attacked) \(logs)")
        let v = try Ledger(path: dir + "/state/ledger.sqlite").verify(aggregatorKey: aggKey.publicKey)
        let r = try #require(v.records.first, "\(logs)")
        #expect(v.ok && v.records.map(\.status) == [.completed], "\(v.records) \(logs)")
        #expect(r.survivors == ["node0", "node1"], "\(logs)")
        #expect(r.dropouts == ["node2": "MaskedInput"], "\(r.dropouts)")
        #expect(r.privacy?.nodes == ["node0", "node1"] && r.privacyProblems(federation: f).isEmpty, "\(String(describing: r.privacy))")
        #expect(sink.all.contains { $0.hasPrefix("agg: refused message from node2: round 1: node2 has not attested its privacy budget") }, "\(logs)")
        let model = try VerifiedModel.open(path: ModelStore.path(stateDirectory: dir + "/state", round: 1), publicKey: aggKey.publicKey)
        let published = try #require(model.manifest["privacy"].flatMap { RoundPrivacy(manifestText: $0) })
        #expect(published == r.privacy && published.problems(federation: f, round: 1, survivors: ["node0", "node1"]).isEmpty)
        // `segviz verify` and `segviz audit` print the budget and the attesting nodes and re-verify them offline.
        let fedPath = dir + "/federation-private.json"
        try f.encoded().write(to: URL(fileURLWithPath: fedPath))
        let modelPath = ModelStore.path(stateDirectory: dir + "/state", round: 1)
        let verify = try run([segvizExecutable(), "verify", "--model", modelPath, "--federation", fedPath])
        #expect(verify.status == 0 && verify.output.contains("privacy: budget epsilon=50.0 delta=1e-05 per patient per site; attested within it by node0, node1")
                && verify.output.contains("privacy attestations: 2 verify against the federation file's node keys"), "\(verify.output)")
        let audit = try run([segvizExecutable(), "audit", "--state", dir + "/state", "--federation", fedPath])
        #expect(audit.status == 0 && audit.output.contains(" attested=node0,node1")
                && audit.output.contains("privacy: budget epsilon=50.0 delta=1e-05 per patient per site; 2 attestation(s) verify"), "\(audit.output)")
        // An aggregator that records an attestation node0 never signed (here: node1's signature under node0's name)
        // signs a valid ledger, but `segviz audit` re-verifies the attestation and names it.
        var forged = r
        forged.round = 2
        forged.status = .aborted
        forged.survivors = []
        forged.privacy?.attestations[0].signature = r.privacy!.attestations[1].signature
        try Ledger(path: dir + "/state/ledger.sqlite").append(forged, signer: aggKey)
        let bad = try run([segvizExecutable(), "audit", "--state", dir + "/state", "--federation", fedPath])
        #expect(bad.status == 1 && bad.output.contains("PROBLEM: round 2: node0: privacy attestation: field signature does not verify"), "\(bad.output)")
    }

    /// A budget that covers 2 of 3 rounds: every node attests rounds 1 and 2, refuses round 3 (its budget) and
    /// declines with `privacy-budget`; the aggregator stops the federation at once (not after the training
    /// timeout), records the stop in the ledger, keeps round 2's model, ends with the status line, and every
    /// node returns normally (exit 0). A restarted aggregator stays stopped.
    @Test(.timeLimit(.minutes(5))) func aFederationStopsAtItsBudgetAndRecordsIt() async throws {
        let dir = try temporaryDirectory()
        let port = freePort()
        let two = try PrivacyAccount.epsilon(noiseMultiplier: 1, sampleRate: 0.5, steps: 4, delta: 1e-5)
        let three = try PrivacyAccount.epsilon(noiseMultiplier: 1, sampleRate: 0.5, steps: 6, delta: 1e-5)
        let f = try Self.privateFederation(dir: dir, port: port, rounds: 3, budget: (two + three) / 2)
        let sink = LogSink()
        let aggKey = try KeyFiles.loadSecretKey(path: dir + "/keys/aggregator.key")
        let coord = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { sink.append("agg: " + $0) })
        let (errors, seconds) = try await HonestExitTests.runFederation(f, dir: dir, coordinator: coord, nodes: [0, 1, 2],
                                                                        sink: sink, port: port)
        let logs = sink.all.joined(separator: "\n")
        #expect(errors.values.allSatisfy { $0 == nil }, "\(errors) \(logs)")
        // Three small rounds take seconds; waiting for the budget-spent nodes would take the 120 s training timeout.
        #expect(seconds < 100, "took \(seconds) s: \(logs)")
        let outcome = await coord.outcome
        #expect(outcome == FederationOutcome(completedRounds: 2, rounds: 3, failure: nil, stop: .privacyBudget) && outcome.endedAsPlanned)
        let v = try Ledger(path: dir + "/state/ledger.sqlite").verify(aggregatorKey: aggKey.publicKey)
        #expect(v.ok && v.records.map(\.status) == [.completed, .completed, .aborted], "\(v.records) \(logs)")
        #expect(v.records.map(\.stop) == [nil, nil, .privacyBudget])
        #expect(v.records.last?.abortReason?.contains("its privacy budget does not allow another round") == true, "\(v.records)")
        for r in v.records.prefix(2) {
            #expect(r.privacy?.nodes == ["node0", "node1", "node2"] && r.privacy?.epsilon == f.privacy?.epsilon)
        }
        #expect(v.records.flatMap { $0.privacyProblems(federation: f) }.isEmpty)
        let path = ModelStore.path(stateDirectory: dir + "/state", round: 2)
        let hash = v.records[1].modelHash
        #expect(sink.all.contains("agg: federation stopped at the privacy budget: 2 of 3 round(s) completed; final model \(path) (BLAKE2b-256 \(hash))"), "\(logs)")
        for i in 0..<3 {
            #expect(sink.all.contains("node\(i): federation stopped at the privacy budget: 2 of 3 round(s) completed"), "\(logs)")
        }
        // Threshold 3 of 3: the first node to refuse round 3 for its budget ends the federation; a node that had not
        // polled round 3 yet only sees the stop.
        #expect(sink.all.contains { $0.contains(": round 3: refused: round 3 would take this node's spent epsilon") }, "\(logs)")
        // The last model is kept, signed, and carries round 2's attestations.
        let model = try VerifiedModel.open(path: path, publicKey: aggKey.publicKey)
        #expect(model.manifest["privacy"].flatMap { RoundPrivacy(manifestText: $0) } == v.records[1].privacy)
        // A restarted aggregator stays stopped.
        let again = try Coordinator(federation: f, stateDirectory: dir + "/state", key: aggKey, log: { sink.append("agg2: " + $0) })
        let stopped = await again.finished, restored = await again.outcome
        #expect(stopped && restored.stop == .privacyBudget)
        let a = await again.announcement()
        #expect(a.phase == .finished && a.stop == .privacyBudget && a.failure == nil)
        // The status page says so, with the budget and who attested (and no spent epsilon).
        let page = await StatusPage.render(again)
        #expect(page.contains("federation stopped at the privacy budget after 2 of 3 rounds"), "\(page)")
        #expect(page.contains("Round 2: attested within the budget by node0, node1, node2."), "\(page)")
        #expect(page.contains("<td>aborted (stopped at the privacy budget)</td>"), "\(page)")
    }
}
