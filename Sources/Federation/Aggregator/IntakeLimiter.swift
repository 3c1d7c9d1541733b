/// Bounds how many large request bodies the aggregator reads and processes at once.
///
/// A masked input is as large as the model; when hundreds of nodes post theirs in the same second, reading
/// every body before the coordinator has summed the previous ones would hold nodes × model bytes. Behind
/// this gate at most `slots` bodies are in memory; the other uploads wait unread in their sockets (TCP flow
/// control pushes back on the senders), so the aggregator's memory grows with the model, not the nodes.
public actor IntakeLimiter {
    private let slots: Int
    private var inUse = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// A gate admitting `slots` bodies at a time (at least 1).
    public init(slots: Int) { self.slots = max(1, slots) }

    /// Runs `body` once a slot is free, and frees the slot afterwards (also when `body` throws).
    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        if inUse < slots { inUse += 1; return }
        await withCheckedContinuation { waiting.append($0) }  // the releasing caller hands its slot over
    }

    private func release() {
        if waiting.isEmpty { inUse -= 1 } else { waiting.removeFirst().resume() }
    }
}
