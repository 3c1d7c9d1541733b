import Foundation
import SecureAggregation
import Tensor

/// The end of an attempt: a completed round's new global model, ledger record and model selection; an aborted
/// attempt's record and the stops it implies (the privacy budget, too many aborts in a row); the move to the next
/// ledger round. Called from ``Coordinator`` once the server state machine has a result or an abort reason.
extension Coordinator {
    /// After a message or a deadline moved the server state machine: logs its new lines, restarts the phase
    /// deadline on a new phase, and ends the round when it completed or aborted.
    func afterTransition() async {
        guard let srv = server else { return }
        for line in srv.log.dropFirst(loggedLines) { log("round \(round): \(line)") }
        loggedLines = srv.log.count
        let phase = srv.state.phase
        if phase != serverPhase {
            serverPhase = phase
            deadline = Date().addingTimeInterval(federation.phaseTimeoutSeconds)
        }
        if let result = srv.result {
            await finishRound(result: result)
        } else if let reason = srv.abortReason {
            await abortRound(reason: reason)
        }
    }

    /// Ends a completed round: the new global model (server optimiser step, written and signed on the pool), its
    /// ledger record with validation and privacy, model selection and evaluation; a store failure repeats the round.
    private func finishRound(result: AggregateResult) async {
        finishing = true
        defer { finishing = false }
        let survivors = result.survivors.map { roster[Int($0)] }
        let previousHash = modelHash
        do {
            var rec = recorder.record(status: .completed, abortReason: nil, roster: roster, lastPhase: .unmasking,
                                      survivors: survivors, modelHash: "", previousModelHash: previousHash,
                                      finishedAt: Date())
            let previousRecordHash = try ledger.last()?.recordHash ?? Ledger.genesisHash
            rec.privacy = roundPrivacy(nodes: survivors)
            let (current, store, key, r, optimizer, optimizerStore, previousRound, privacy) =
                (model, store, key, round, serverOptimizer, optimizerStore, modelRound, rec.privacy)
            // The new model's values, encoding, hash and signature: tens of megabytes of work, on the pool. The
            // optimiser's new state is on disk before the ledger names this round's model.
            let (updated, hash, stepped) = try await compute.run { () throws -> (FederatedModel, String, ServerOptimizer) in
                var stepped = optimizer
                let updated = stepped.nextModel(from: current, result: result)
                let hash = try store.write(model: updated, round: r, participants: survivors, previousModelHash: previousHash,
                                           previousRecordHash: previousRecordHash, privacy: privacy, key: key)
                try optimizerStore.save(stepped, round: r, keepFrom: previousRound)
                return (updated, hash, stepped)
            }
            rec.modelHash = hash
            // The scores sent in this round evaluate the model it started from (`previousRound`).
            var chosen = selection
            rec.validation = ValidationVector.sums(federation: federation, result: result).map {
                ModelSelection.validation(sums: $0, federation: federation, survivors: survivors, modelRound: previousRound)
            }
            let improved = rec.validation.map { chosen.consider($0) } ?? false
            if federation.modelSelection != nil { rec.bestModelRound = chosen.best?.round }
            let stored = try ledger.append(rec, signer: key)
            selection = chosen
            model = updated
            serverOptimizer = stepped
            modelRound = round
            modelHash = hash
            completedRounds += 1
            completedHere += 1
            failedAttempts = 0
            log("round \(round) completed: global model \(completedRounds)/\(federation.rounds) (\(hash.prefix(16))) from "
                + LogText.list(survivors) + "; dropped: " + LogText.dropouts(stored.dropouts)
                + TimeLeft.text(elapsed: Date().timeIntervalSince(openedAt), done: completedHere,
                                total: completedHere + federation.rounds - completedRounds, of: "the federation"))
            if let v = rec.validation { await recordSelection(v, improved: improved) }
            if let evaluate {
                let d = await compute.run { evaluate(updated, r) }
                history.append((round, d))
                log("round \(round) evaluation: " + d.sorted { $0.key < $1.key }.map { "dice_\($0.key)=\(String(format: "%.4f", $0.value))" }.joined(separator: " "))
            }
        } catch {
            log("round \(round): could not store the new global model: \(error); the round will be repeated")
            server = nil
            wakeWaiters(node: nil)
            return
        }
        advance()
        await refreshLedgerStatus()
    }

    /// Logs a round's validation and, when it found a better model, signs that model's copy as the best (an
    /// interrupted copy is repaired on the next start, from the ledger).
    private func recordSelection(_ v: RoundValidation, improved: Bool) async {
        log("round \(round) validation of model \(v.modelRound): score \(v.score.map { String(format: "%.4f", $0) } ?? "none") (\(v.basis))"
            + (selection.best.map { "; best model: round \($0.round)" } ?? ""))
        guard improved, let best = selection.best else { return }
        let (store, key) = (store, key)
        do { _ = try await compute.run { try store.writeBest(round: best.round, key: key) } } catch {
            log("round \(round): could not write the best model (round \(best.round)): \(error); it is rewritten on the next start")
        }
    }

    /// Ends an aborted attempt: its ledger record, and the stop it implies (the privacy budget, or too many
    /// aborts in a row from one global model).
    private func abortRound(reason protocolReason: String) async {
        let reason = protocolReason + declineNote
        let budgetStop = budgetStopDue
        var rec = recorder.record(status: .aborted, abortReason: reason, roster: roster,
                                  lastPhase: serverPhase.flatMap { RoundPhase($0) } ?? .advertiseKeys, survivors: [],
                                  modelHash: modelHash, previousModelHash: modelHash, finishedAt: Date())
        rec.privacy = roundPrivacy(nodes: attestations.keys.sorted())
        if budgetStop { rec.stop = .privacyBudget }
        do { try ledger.append(rec, signer: key) } catch {
            log("round \(round): could not record the abort: \(error)")
        }
        log("round \(round) aborted: \(reason)")
        failedAttempts += 1
        if budgetStop {
            stop = .privacyBudget
            log("round \(round): " + LogText.list(budgetDeclined.sorted()) + " declined for their privacy budget; "
                + "the \(roster.count - budgetDeclined.count) node(s) left cannot reach the threshold of a round")
        } else if failedAttempts >= attemptsPerRound {
            stopReason = "no new global model after \(failedAttempts) attempt(s) in a row from global model round \(modelRound); last: \(reason)"
        }
        advance()
        await refreshLedgerStatus()
    }

    /// Moves to the next ledger round: keeps the ended attempt's queues for late readers, clears the attempt, and
    /// when the federation is over logs its outcome; wakes every long-poll.
    private func advance() {
        previousOutbox = (round, hex(session), outbox)
        round += 1
        server = nil
        loggedLines = 0
        deadline = .distantFuture
        if finished {
            serverPhase = nil
            AttemptMarker.remove(stateDirectory: store.directory)
            log(outcome.logLine(modelPath: store.path(round: modelRound), modelHash: modelHash))
        }
        wakeWaiters(node: nil)
    }
}
