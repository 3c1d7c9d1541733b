import Foundation
import Testing
@testable import Tensor

/// The compute pool: work runs on its own threads (not the cooperative pool), with the pool's kernel thread
/// count, without changing the count other pools or the process default use.
@Suite struct ComputePoolTests {
    @Test(.timeLimit(.minutes(5))) func jobsRunOnThePoolsOwnThreads() async throws {
        let pool = ComputePool(jobs: 2, kernelThreads: 1)
        #expect(!ComputePool.onPoolThread)
        let onPool = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0 ..< 6 { group.addTask { await pool.run { ComputePool.onPoolThread } } }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(onPool == Array(repeating: true, count: 6))
    }

    /// Two pools run side by side with different kernel thread counts; each job sees its own pool's count for
    /// the whole job, and the process default is untouched (what parallel tests setting `Compute.threads` raced on).
    @Test(.timeLimit(.minutes(5))) func eachPoolKeepsItsOwnKernelThreadCount() async throws {
        let before = Compute.threads
        let one = ComputePool(jobs: 1, kernelThreads: 1), three = ComputePool(jobs: 1, kernelThreads: 3)
        func observe(_ pool: ComputePool) async -> Set<Int> {
            await pool.run {
                var seen = Set<Int>()
                for _ in 0 ..< 50 { seen.insert(Compute.threads); usleep(1000) }
                return seen
            }
        }
        async let a = observe(one)
        async let b = observe(three)
        let (seenA, seenB) = await (a, b)
        #expect(seenA == [1])
        #expect(seenB == [3])
        #expect(Compute.threads == before)
        #expect(Compute.withThreads(2) { Compute.threads } == 2)
        #expect(Compute.threads == before)
    }

    struct Failure: Error, Equatable { let code: Int }

    @Test(.timeLimit(.minutes(5))) func errorsReachTheCaller() async throws {
        let pool = ComputePool(jobs: 1, kernelThreads: 1)
        await #expect(throws: Failure(code: 7)) { try await pool.run { () throws -> Int in throw Failure(code: 7) } }
        #expect(try await pool.run { () throws -> Int in 41 + 1 } == 42)
    }
}
