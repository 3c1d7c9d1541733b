import Dispatch
import Foundation
import Synchronization

/// The one thread setting of the numeric code.
///
/// ``threads`` is the number of worker threads every kernel of `Tensor` and `NN` splits its work
/// over (convolution tiles, per-channel normalisation, element-wise passes). OpenBLAS is kept at one
/// thread per call because each worker calls it on its own tile; so this single value bounds the
/// cores the network uses. Default: the environment variable `SEGVIZ_THREADS`, else the number of
/// active processors.
public enum Compute {
    private static let storedThreads = Atomic<Int>(initialThreads())

    private static func initialThreads() -> Int {
        if let s = ProcessInfo.processInfo.environment["SEGVIZ_THREADS"], let n = Int(s), n >= 1 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Worker threads used by every kernel (at least 1). OpenBLAS itself stays single-threaded.
    public static var threads: Int {
        get { storedThreads.load(ordering: .relaxed) }
        set {
            precondition(newValue >= 1, "Compute.threads must be at least 1, got \(newValue)")
            storedThreads.store(newValue, ordering: .relaxed)
        }
    }

    /// A description of the BLAS in use (build options and the CPU kernel OpenBLAS picked).
    public static var blasDescription: String { BLAS.configuration }

    /// The CPU kernel family OpenBLAS runs (e.g. `Haswell`, `Cooperlake`).
    public static var blasCoreName: String { BLAS.coreName }

    /// The convolution kernels the layers use: `direct-avx2`, `direct-plain` or `im2col-sgemm`
    /// (see `SEGVIZ_KERNELS`).
    public static var convolutionKernels: String { DirectConv.description }

    /// Runs `body(worker, task)` for every `task` in `0..<tasks`, spread dynamically over at most
    /// ``threads`` workers; `worker` is in `0..<workers(tasks)` and no two concurrent calls share it.
    package static func forEachTask(_ tasks: Int, maxWorkers: Int = .max,
                                    _ body: (_ worker: Int, _ task: Int) -> Void) {
        // `maxWorkers` pins the count to what a caller sized per-worker scratch for, even if `threads`
        // changes meanwhile on another thread.
        let w = min(workers(tasks), maxWorkers)
        if w <= 1 {
            for t in 0..<tasks { body(0, t) }
            return
        }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: w) { worker in
                while true {
                    let t = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if t >= tasks { break }
                    box.value(worker, t)
                }
            }
        }
    }

    /// Runs `body(range)` over `0..<count` split into one contiguous chunk per worker
    /// (chunks of at least `grain` elements).
    package static func forEachChunk(_ count: Int, grain: Int = 32_768, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(threads, count / max(grain, 1)))
        if chunks <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        forEachTask(chunks) { _, c in
            body((count * c / chunks)..<(count * (c + 1) / chunks))
        }
    }

    /// The number of workers `forEachTask(tasks)` uses.
    package static func workers(_ tasks: Int) -> Int { max(1, min(threads, tasks)) }
}

/// Wraps a value that is safe to share across the workers of one kernel call by construction
/// (disjoint writes, or reads only).
package struct UncheckedSendable<T>: @unchecked Sendable {
    package let value: T
    package init(_ value: T) { self.value = value }
}

/// A heap block of `Float`s with a stable address, for activations and kernel scratch.
///
/// Not zeroed unless asked. Owned by one model at a time; the kernels read and write it through
/// ``pointer`` from several workers on disjoint ranges. Blocks are recycled through
/// ``MemoryPool``: a training step allocates the same sizes every time, so after the first step
/// its activations reuse memory that is already mapped instead of faulting in fresh pages.
package final class FloatBuffer: @unchecked Sendable {
    /// First element.
    package let pointer: UnsafeMutablePointer<Float>
    /// Number of elements.
    package let count: Int

    /// Allocates `count` elements, zeroed when `zeroed` is true.
    package init(count: Int, zeroed: Bool = false) {
        self.count = count
        pointer = MemoryPool.take(max(count, 1))
        if zeroed { pointer.update(repeating: 0, count: count) }
    }

    /// Allocates and copies `values`.
    package convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { MemoryPool.give(pointer, max(count, 1)) }

    /// Sets every element to zero.
    package func zero() { pointer.update(repeating: 0, count: count) }

    /// The elements as an array.
    package var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// Recycles freed float blocks by exact size, up to ``limitFloats`` floats held in total.
package enum MemoryPool {
    private struct State {
        var free: [Int: [UInt]] = [:]   // addresses, by block size
        var held = 0
    }
    private static let state = Mutex(State())
    /// Most floats kept for reuse (64 Mi floats = 256 MiB, about one 96^3 training step's
    /// activations); beyond that blocks are freed.
    package static let limitFloats = 1 << 26
    /// Blocks smaller than this are not pooled (the allocator handles them well).
    package static let minimumFloats = 16_384

    /// A block of exactly `count` floats (recycled when one is free).
    package static func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count >= minimumFloats, let a = state.withLock({ s -> UInt? in
            guard let a = s.free[count]?.popLast() else { return nil }
            s.held -= count
            return a
        }), let p = UnsafeMutablePointer<Float>(bitPattern: a) { return p }
        return .allocate(capacity: count)
    }

    /// Returns a block obtained from ``take(_:)``.
    package static func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let a = UInt(bitPattern: p)
        if count >= minimumFloats, state.withLock({ s -> Bool in
            guard s.held + count <= limitFloats else { return false }
            s.free[count, default: []].append(a)
            s.held += count
            return true
        }) { return }
        p.deallocate()
    }

    /// Frees every pooled block (memory returns to the allocator).
    package static func drain() {
        let blocks = state.withLock { s -> [UInt] in
            let all = s.free.values.flatMap { $0 }
            s = State()
            return all
        }
        for a in blocks { UnsafeMutablePointer<Float>(bitPattern: a)?.deallocate() }
    }
}

/// A pool of scratch buffers shared by kernel calls: each worker takes one for the duration of a call.
package enum ScratchPool {
    private static let free = Mutex<[FloatBuffer]>([])

    /// Takes a buffer of at least `count` elements (contents undefined).
    package static func take(_ count: Int) -> FloatBuffer {
        let found: FloatBuffer? = free.withLock { list in
            if let i = list.firstIndex(where: { $0.count >= count }) { return list.remove(at: i) }
            return nil
        }
        return found ?? FloatBuffer(count: count)
    }

    /// Returns a buffer for later calls (the pool keeps at most 16).
    package static func give(_ buffer: FloatBuffer) {
        free.withLock { list in
            if list.count < 16 { list.append(buffer) }
            else if let i = list.indices.min(by: { list[$0].count < list[$1].count }), list[i].count < buffer.count {
                list[i] = buffer
            }
        }
    }

    /// Runs `body` with one scratch buffer of `count` elements per worker of `workers`.
    package static func withBuffers<R>(_ workers: Int, count: Int, _ body: ([FloatBuffer]) -> R) -> R {
        let bufs = (0..<workers).map { _ in take(count) }
        defer { bufs.forEach(give) }
        return body(bufs)
    }
}
