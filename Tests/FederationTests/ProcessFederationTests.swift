import Foundation
import Testing
@testable import Federation

/// Aggregator and nodes as real processes on loopback (small U-Net, small phantoms).
@Suite(.serialized) struct ProcessFederationTests {
    @Test func threeNodesTwoRoundsThenVerifyAndInfer() async throws {
        let fed = try ProcessFederation(rounds: 2)
        // The aggregator evaluates each global model on the external set and stays up after the last round
        // until stopped, so that its status page can be read in a browser.
        let agg = try fed.startAggregator(extra: ["--evaluate", "\(fed.dir)/external", "--evaluate-labels", fed.externalMapping,
                                                  "--keep-serving"])
        let nodes = try fed.sites.map { try fed.startNode($0) }
        defer { agg.kill9(); nodes.forEach { $0.kill9() } }
        try await fed.waitForRecords(2, seconds: 240)
        for n in nodes { _ = await n.wait(seconds: 30) }
        try checkStatusPageInChromium(fed)
        kill(agg.process.processIdentifier, SIGTERM)
        let status = await agg.wait(seconds: 30)
        #expect(status == 0, "aggregator: \(agg.output)")
        let v = try fed.ledger()
        #expect(v.ok, "\(v.problems)")
        #expect(v.records.map(\.status) == [.completed, .completed])
        #expect(v.records.allSatisfy { $0.survivors == fed.sites.sorted() })
        for n in nodes { #expect(n.process.terminationStatus == 0, "\(n.output)") }

        let model = "\(fed.statePath)/models/global-r0002.safetensors"  // the documented file name (oracle)
        let verify = try run([segvizExecutable(), "verify", "--model", model, "--federation", fed.fedPath])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.contains("round: 2"))
        let ct = try FileManager.default.contentsOfDirectory(atPath: "\(fed.dir)/external/img").first!
        let infer = try run([segvizExecutable(), "infer", "--model", model, "--federation", fed.fedPath,
                             "--input", "\(fed.dir)/external/img/\(ct)", "--output", "\(fed.dir)/mask.nii.gz"])
        #expect(infer.status == 0, "\(infer.output)")
        #expect(FileManager.default.fileExists(atPath: "\(fed.dir)/mask.nii.gz"))
        // No log of the whole run shows identity key material (threat model T9).
        var logs = ["aggregator": agg.output, "verify": verify.output, "infer": infer.output]
        for (id, n) in zip(fed.sites, nodes) { logs[id] = n.output }
        try expectNoKeyMaterial(in: logs, keysDirectory: "\(fed.dir)/keys")
        try expectNodeStates(fed)
        try expectTamperedModelIsRefusedByInfer(fed, model: model, ct: "\(fed.dir)/external/img/\(ct)")
        try expectTamperedLedgerIsRefused(fed)
    }

    /// Each node's own state (`segviz node --state`) records both rounds, from models 0 and 1, revealed and completed.
    func expectNodeStates(_ fed: ProcessFederation) throws {
        for id in fed.sites {
            let data = try Data(contentsOf: URL(fileURLWithPath: fed.nodeStatePath(id) + "/" + NodeMemory.fileName))
            let s = try JSONDecoder().decode(NodeMemory.State.self, from: data)
            #expect(s.federation == "proc-test" && s.node == id)
            #expect(s.attempts.map(\.round) == [1, 2] && s.attempts.map(\.modelRound) == [0, 1], "\(id): \(s.attempts)")
            #expect(s.attempts.allSatisfy { $0.revealed && $0.completed }, "\(id): \(s.attempts)")
        }
    }

    /// `segviz infer` on the valid CT that worked above refuses the same model with one weight byte changed.
    func expectTamperedModelIsRefusedByInfer(_ fed: ProcessFederation, model: String, ct: String) throws {
        let tampered = "\(fed.dir)/tampered.safetensors"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: model)))
        bytes[bytes.count - 5] ^= 0x01  // inside the last tensor's weights
        try Data(bytes).write(to: URL(fileURLWithPath: tampered))
        try FileManager.default.copyItem(atPath: ModelSignature.signaturePath(for: model), toPath: ModelSignature.signaturePath(for: tampered))
        let out = "\(fed.dir)/tampered-mask.nii.gz"
        let r = try run([segvizExecutable(), "infer", "--model", tampered, "--federation", fed.fedPath, "--input", ct, "--output", out])
        #expect(r.status != 0, "\(r.output)")
        #expect(r.output.contains("tampered.safetensors"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// One changed ledger row (round 1's record text): `segviz audit` and the aggregator's start refuse, naming round 1.
    func expectTamperedLedgerIsRefused(_ fed: ProcessFederation) throws {
        let ledger = fed.statePath + "/ledger.sqlite"
        let sql = try run(["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            (rec,) = db.execute("SELECT record FROM rounds WHERE round = 1").fetchone()
            changed = rec.replace('"completed"', '"aborted"', 1)
            assert changed != rec, rec
            db.execute("UPDATE rounds SET record = ? WHERE round = 1", (changed,))
            db.commit()
            """, ledger])
        #expect(sql.status == 0, "\(sql.output)")
        let audit = try run([segvizExecutable(), "audit", "--state", fed.statePath, "--federation", fed.fedPath])
        #expect(audit.status != 0, "\(audit.output)")
        #expect(audit.output.contains("PROBLEM: round 1:"), "\(audit.output)")
        let agg = try run([segvizExecutable(), "aggregator", "--federation", fed.fedPath, "--state", fed.statePath, "--threads", "1"])
        #expect(agg.status != 0, "\(agg.output)")
        #expect(agg.output.contains("round 1:"), "\(agg.output)")
    }

    /// The SegViz paper's `heads` strategy end to end over processes: four sites, two annotators per organ (so
    /// each head has two contributors), one round completed, the model verifies and `infer` segments the external CT.
    @Test func headsStrategyWithTwoAnnotatorsPerOrgan() async throws {
        let fed = try ProcessFederation(rounds: 1, threshold: 3, strategy: .heads, twoPerOrgan: true)
        let agg = try fed.startAggregator()
        let nodes = try fed.sites.map { try fed.startNode($0) }
        defer { agg.kill9(); nodes.forEach { $0.kill9() } }
        let status = await agg.wait(seconds: 240)
        for n in nodes { _ = await n.wait(seconds: 30) }
        #expect(status == 0, "aggregator: \(agg.output)")
        let v = try fed.ledger()
        #expect(v.ok, "\(v.problems)")
        #expect(v.records.map(\.status) == [.completed], "\(agg.output)")
        #expect(v.records.first?.survivors == fed.sites.sorted())
        let model = "\(fed.statePath)/models/global-r0001.safetensors"
        let verify = try run([segvizExecutable(), "verify", "--model", model, "--federation", fed.fedPath])
        #expect(verify.status == 0, "\(verify.output)")
        let ct = try FileManager.default.contentsOfDirectory(atPath: "\(fed.dir)/external/img").first!
        let infer = try run([segvizExecutable(), "infer", "--model", model, "--federation", fed.fedPath,
                             "--input", "\(fed.dir)/external/img/\(ct)", "--output", "\(fed.dir)/mask.nii.gz"])
        #expect(infer.status == 0, "\(infer.output)")
        #expect(FileManager.default.fileExists(atPath: "\(fed.dir)/mask.nii.gz"))
    }

    /// A node killed at a phase: the round completes with the survivors, the next round goes on with all.
    @Test(arguments: ["Training", "ShareKeys", "MaskedInput", "Unmasking"])
    func nodeKilledMidRound(phase: String) async throws {
        let fed = try ProcessFederation(rounds: 2, phaseTimeout: 3, trainingTimeout: 12)
        let agg = try fed.startAggregator()
        var nodes = try fed.sites.dropLast().map { try fed.startNode($0) }
        let victim = try fed.startNode("liver-c", crashAt: phase, crashRound: 1)
        #expect(await victim.wait(seconds: 120) == 3, "victim: \(victim.output)")
        // Once round 1 is recorded, the crashed node restarts and rejoins at the next round.
        try await fed.waitForRecords(1, seconds: 120)
        nodes.append(try fed.startNode("liver-c"))
        let status = await agg.wait(seconds: 240)
        for n in nodes { _ = await n.wait(seconds: 20) }
        #expect(status == 0, "aggregator: \(agg.output)")
        let v = try fed.ledger()
        #expect(v.ok, "\(v.problems)")
        #expect(v.records.count == 2)
        let r1 = v.records[0]
        #expect(r1.status == .completed, "\(r1)")
        if phase == "Unmasking" {
            // It sent its masked input, so its update is in the sum; only its unmasking answer is missing.
            #expect(r1.survivors.contains("liver-c"))
            #expect(r1.secretKeysRevealedFor.isEmpty)
        } else {
            #expect(!r1.survivors.contains("liver-c"))
            #expect(r1.dropouts["liver-c"] != nil)
            #expect(r1.secretKeysRevealedFor == (phase == "MaskedInput" ? ["liver-c"] : []))
        }
        #expect(v.records[1].status == .completed)
    }

    @Test func aggregatorKilledAndRestartedResumes() async throws {
        let fed = try ProcessFederation(rounds: 3)
        var agg = try fed.startAggregator()
        let nodes = try fed.sites.map { try fed.startNode($0) }
        // Wait for round 1 to be recorded, then kill -9.
        try await fed.waitForRecords(1)
        agg.kill9()
        _ = await agg.wait(seconds: 10)
        let before = try fed.ledger()
        #expect(before.ok && before.records.count >= 1)
        agg = try fed.startAggregator(log: "aggregator-restarted.log")
        let status = await agg.wait(seconds: 240)
        for n in nodes { _ = await n.wait(seconds: 20) }
        #expect(status == 0, "restarted aggregator: \(agg.output)")
        let v = try fed.ledger()
        #expect(v.ok, "\(v.problems)")
        // Three completed rounds; the attempt the kill interrupted is recorded as aborted and does not count.
        #expect(v.records.filter { $0.status == .completed }.count == 3)
        #expect(v.records.count <= 4)
        #expect(Array(v.records.prefix(before.records.count)) == before.records)
        #expect(agg.output.contains("resuming after round"))
        for r in v.records where r.status == .completed {
            #expect(FileManager.default.fileExists(atPath: ModelStore.path(stateDirectory: fed.statePath, round: r.round)))
        }
        let audit = try run([segvizExecutable(), "audit", "--state", fed.statePath, "--federation", fed.fedPath])
        #expect(audit.status == 0, "\(audit.output)")
    }

    /// Loads the aggregator's `GET /` in headless Chromium and reads the rendered text; saves a screenshot to
    /// test-artifacts/status-page.png.
    func checkStatusPageInChromium(_ fed: ProcessFederation) throws {
        guard let browser = HeadlessChromium.find() else {
            Issue.record("chromium is not installed (scripts/install-deps.sh installs Debian's chromium)")
            return
        }
        let text = try browser.renderedText(url: fed.url + "/")
        #expect(text.contains("SegViz federation proc-test"), "\(text)")
        #expect(text.contains("all 2 rounds done"), "\(text)")
        #expect(text.contains("hash chain and signatures verify"), "\(text)")
        #expect(!text.contains("DOES NOT VERIFY"), "\(text)")
        for site in fed.sites { #expect(text.contains(site), "\(site) missing: \(text)") }
        #expect(text.contains("Dice liver") && text.contains("Dice spleen"), "\(text)")
        // Both rounds listed as completed with their model verified.
        let verified = text.components(separatedBy: "completed").count - 1
        #expect(verified == 2, "\(text)")
        #expect(text.components(separatedBy: " verifies").count - 1 >= 3, "\(text)")
        let shot = try testArtifactsDirectory() + "/status-page.png"
        try? FileManager.default.removeItem(atPath: shot)
        try browser.screenshot(url: fed.url + "/", to: shot)
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.count > 5000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "screenshot \(shot): \(png.count) bytes")
    }
}
