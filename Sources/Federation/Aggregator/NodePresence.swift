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

    mutating func seen(_ node: String, at t: Date) { lastSeen[node] = t }

    mutating func attemptStarted(at t: Date) {
        attemptStart = t
        graceUntil = nil
        nextReport = t.addingTimeInterval(reportInterval)
    }

    /// True when `node` made no request since the attempt started.
    func absent(_ node: String) -> Bool { (lastSeen[node] ?? .distantPast) < attemptStart }

    /// "never connected", "no request for 42 s", or "last request 3 s ago".
    func describe(_ node: String, now: Date) -> String {
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

    /// Logs, every 30 s, whom the current phase waits for; and when enough nodes advertised keys while every
    /// missing one has made no request since the attempt started, closes the phase after a short grace (the
    /// federation's phase timeout) instead of the training timeout.
    func reportWaiting(now: Date) {
        guard let srv = server, let (phase, missing) = awaited(), !missing.isEmpty else { return }
        if phase == .advertiseKeys, presence.graceUntil == nil,
           (recorder.spoke[.advertiseKeys] ?? []).count >= srv.config.threshold, missing.allSatisfy({ presence.absent($0) }) {
            let until = now.addingTimeInterval(federation.phaseTimeoutSeconds)
            presence.graceUntil = until
            if until < deadline { deadline = until }
            log("round \(round): \((recorder.spoke[.advertiseKeys] ?? []).count) node(s) ready; waiting at most "
                + "\(Int(federation.phaseTimeoutSeconds)) s more for " + missing.map { "\($0) (\(presence.describe($0, now: now)))" }.joined(separator: ", "))
        }
        if now >= presence.nextReport {
            presence.nextReport = now.addingTimeInterval(presence.reportInterval)
            log("round \(round): \(phase.rawValue) waiting for " + missing.map { "\($0) (\(presence.describe($0, now: now)))" }.joined(separator: ", ")
                + "; deadline in \(Int(max(0, deadline.timeIntervalSince(now)).rounded())) s")
        }
    }
}
