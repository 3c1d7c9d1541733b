import Foundation

/// Dedicated threads for compute-heavy work that async code needs done (training, evaluation, hashing and
/// signing a model), so that it never runs on Swift's cooperative pool or on an actor's executor, where it
/// would starve every other task (HTTP handlers, long-polls, deadlines) for seconds or minutes.
///
/// `run` suspends the caller and resumes it with the result; the job runs on one of the pool's `jobs`
/// threads with `kernelThreads` kernel workers (``Compute/withThreads(_:_:)``), so two pools, e.g. of two
/// tests, do not change each other's thread count.
public final class ComputePool: @unchecked Sendable {  // `condition` guards `queue`.
    /// The default pool: two jobs side by side, each with ``Compute/threads`` kernel workers (as set when it is
    /// first used). Pass a pool of your own to choose the counts.
    public static let shared = ComputePool(jobs: 2)

    /// Kernel workers each job uses.
    public let kernelThreads: Int
    private let condition = NSCondition()
    private var queue: [() -> Void] = []

    /// A pool of `jobs` threads (jobs run side by side), each job's kernels split over `kernelThreads` workers
    /// (default: ``Compute/threads``).
    public init(jobs: Int = 1, kernelThreads: Int = Compute.threads) {
        precondition(jobs >= 1 && kernelThreads >= 1, "ComputePool: jobs and kernelThreads must be at least 1")
        self.kernelThreads = kernelThreads
        for i in 0..<jobs {
            let t = Thread { [self] in work() }
            t.name = "segviz-cpu-\(i)"  // Linux thread names hold 15 characters
            t.stackSize = 8 << 20
            t.start()
        }
    }

    /// Runs `body` on a pool thread; the caller suspends (it does not block a thread) until it is done.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            enqueue { [kernelThreads] in c.resume(with: Result { try Compute.withThreads(kernelThreads, body) }) }
        }
    }

    /// Runs `body` on a pool thread; the caller suspends until it is done.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            enqueue { [kernelThreads] in c.resume(returning: Compute.withThreads(kernelThreads, body)) }
        }
    }

    private func enqueue(_ job: @escaping () -> Void) {
        condition.lock()
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    /// True on a thread of some ComputePool (for checks that work left the cooperative pool).
    public static var onPoolThread: Bool { Thread.current.threadDictionary[poolThreadKey] != nil }
    private static let poolThreadKey = "segviz.compute-pool"

    /// A pool thread's loop (the pool lives as long as its threads: they hold it).
    private func work() {
        Thread.current.threadDictionary[Self.poolThreadKey] = true
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            let job = queue.removeFirst()
            condition.unlock()
            job()
        }
    }
}
