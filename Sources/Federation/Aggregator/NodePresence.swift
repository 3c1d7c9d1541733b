import Foundation

/// When each node last made an authenticated request, and when the current attempt started: the aggregator's
/// view of who is alive. A node with no request since the attempt started has not even fetched the model, so it
/// is not training: it has vanished (or never connected).
struct NodePresence {
    /// Node -> time of its last authenticated request.
    private(set) var lastSeen: [String: Date] = [:]
    /// Start of the current attempt.
    private(set) var attemptStart: Date = .distantPast
    /// When the early close of the key-advertisement phase was decided (nil: not decided in this attempt).
    var graceUntil: Date?
    /// Next time the "waiting for" line is due.
    var nextReport: Date = .distantFuture
    /// Seconds between "waiting for" lines (shorter when the federation's phase timeout is).
    var reportInterval: Double = 30
    /// Nodes that said they sit out the current attempt, and why (``DeclineReason``).
    private(set) var declined: [String: DeclineReason] = [:]

    mutating func seen(_ node: String, at t: Date) { lastSeen[node] = t }

    mutating func attemptStarted(at t: Date) {
        attemptStart = t
        graceUntil = nil
        declined = [:]
        nextReport = t.addingTimeInterval(reportInterval)
    }

    mutating func decline(_ node: String, _ reason: DeclineReason) { declined[node] = reason }

    /// True when `node` made no request since the attempt started.
    func absent(_ node: String) -> Bool { (lastSeen[node] ?? .distantPast) < attemptStart }

    /// True when `node` will not speak in this attempt: it declined, or it has not been seen since it started.
    func gone(_ node: String) -> Bool { declined[node] != nil || absent(node) }

    /// When to stop waiting for `missing` (each declined or absent): a phase timeout (`grace`) after each one's last
    /// request (after the attempt's start for one never seen), at the latest; now for declined nodes. A node that
    /// vanished during the previous attempt has used its grace up already and is not waited for again.
    func graceEnd(missing: [String], grace: Double, now: Date) -> Date {
        let ends = missing.filter { declined[$0] == nil }.map { max(lastSeen[$0] ?? attemptStart, attemptStart.addingTimeInterval(-grace)) }
        return max(now, (ends.max() ?? now).addingTimeInterval(ends.isEmpty ? 0 : grace))
    }

    /// "never connected", "no request for 42 s", "last request 3 s ago" or "declined: <why>".
    func describe(_ node: String, now: Date) -> String {
        if let d = declined[node] { return "declined: \(d.words)" }
        guard let t = lastSeen[node] else { return "never connected" }
        let s = Int(now.timeIntervalSince(t).rounded())
        return absent(node) ? "no request for \(s) s" : "last request \(s) s ago"
    }
}

extension Coordinator {
    /// Notes an authenticated request from `node` (the HTTP layer calls it for every one).
    public func noteContact(node: String) {
        guard roster.contains(node) else { return }
        presence.seen(node, at: Date())
    }

    /// The roster nodes the current phase still waits for (those in the round so far that have not spoken in it).
    func awaited() -> (phase: RoundPhase, nodes: [String])? {
        guard server != nil, let phase = serverPhase.flatMap({ RoundPhase($0) }),
              let i = RoundRecorder.order.firstIndex(of: phase) else { return nil }
        let spoke = recorder.spoke[phase] ?? []
        let inRound = i == 0 ? Set(roster) : (recorder.spoke[RoundRecorder.order[i - 1]] ?? [])
        return (phase, roster.filter { inRound.contains($0) && !spoke.contains($0) })
    }

    /// A node sits out the current attempt (``DeclineReason``): it is not waited for in any later phase of it.
    /// The aggregator learns nothing it would not learn from the node's silence, only sooner.
    public func decline(node: String, round r: Int, session s: String, reason: DeclineReason) throws {
        startRoundIfNeeded()
        guard !finished else { throw Refusal(status: 409, reason: "the federation has finished") }
        guard roster.contains(node) else { throw Refusal(status: 403, reason: "unknown node") }
        guard r == round, s == currentSession, server != nil else {
            throw Refusal(status: 409, reason: "round \(r)/\(s.prefix(8)) is not the current round \(round)/\(currentSession.prefix(8))")
        }
        if let (phase, missing) = awaited(), !missing.contains(node) {
            throw Refusal(status: 409, reason: "round \(r): \(node) is not awaited in \(phase.rawValue) (it already answered, or dropped earlier)")
        }
        guard presence.declined[node] == nil else { return }
        presence.decline(node, reason)
        log("round \(round): \(node) sits this attempt out (\(reason.words))")
        if reason == .privacyBudget { noteBudgetDecline(node: node, now: Date()) }
        reportWaiting(now: Date())
    }

    /// Logs, every 30 s, whom the current phase waits for. Closes the phase at once when every node it still waits
    /// for declined; closes the key-advertisement phase
    /// after a short grace (the federation's phase timeout) when enough nodes advertised while every missing one
    /// declined or made no request since the attempt started, instead of waiting the training timeout.
    func reportWaiting(now: Date) {
        guard let srv = server, let (phase, missing) = awaited(), !missing.isEmpty else { return }
        if missing.allSatisfy({ presence.declined[$0] != nil }) {
            // Nobody left to wait for: close the phase now (below the threshold, that aborts the attempt). Declines
            // alone never end an attempt that others may still join: a node still silent is waited for as before.
            if deadline > now { deadline = now }
        } else if phase == .advertiseKeys {
            let ready = (recorder.spoke[.advertiseKeys] ?? []).count
            if presence.graceUntil == nil, ready >= srv.config.threshold, missing.allSatisfy({ presence.gone($0) }) {
                let until = presence.graceEnd(missing: missing, grace: federation.phaseTimeoutSeconds, now: now)
                presence.graceUntil = until
                if until < deadline { deadline = until }
                let wait = Int(until.timeIntervalSince(now).rounded(.up))
                log("round \(round): \(ready) node(s) ready; " + (wait > 0 ? "waiting at most \(wait) s more for " : "going on without ")
                    + missing.map { "\($0) (\(presence.describe($0, now: now)))" }.joined(separator: ", "))
            }
        }
        if now >= presence.nextReport {
            presence.nextReport = now.addingTimeInterval(presence.reportInterval)
            log("round \(round): \(phase.rawValue) waiting for " + missing.map { "\($0) (\(presence.describe($0, now: now)))" }.joined(separator: ", ")
                + "; deadline in \(Int(max(0, deadline.timeIntervalSince(now)).rounded())) s")
        }
    }

    /// The declines of the current attempt for its abort reason ("; declined: node2 (restarted ...)"), or "".
    var declineNote: String {
        presence.declined.isEmpty ? "" : "; declined: " + LogText.list(presence.declined.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value.words))" })
    }
}
