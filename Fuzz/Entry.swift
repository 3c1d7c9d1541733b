// libFuzzer entry points for every decoder of outside input. Built only by `scripts/fuzz.sh` (`make fuzz`):
// `SEGVIZ_FUZZ=1 swift build --sanitize=fuzzer --sanitize=address` adds this target; libFuzzer supplies `main`.
//
// One binary, many targets: `SEGVIZ_FUZZ_TARGET=<name>` picks the decoder; `SEGVIZ_FUZZ_SEEDS=<dir>` instead
// writes every target's seed corpus (built from real files: the shared CT, phantoms, a recorded secure-aggregation
// round, signed requests, a tiny model's safetensors, minisign keys and signatures) into `<dir>/<target>/` and exits.
import Foundation

/// A fuzz target: its seed inputs and the function that consumes one input (it may throw nothing; any trap,
/// sanitizer report or failed invariant is a finding).
struct FuzzTarget: Sendable {
    let name: String
    let seeds: @Sendable () throws -> [[UInt8]]
    let run: @Sendable ([UInt8]) -> Void
}

/// Every target, in the order `make fuzz` runs them.
let allTargets: [FuzzTarget] = imagingTargets + federationTargets + secureAggregationTargets

nonisolated(unsafe) var selectedTarget: FuzzTarget?

/// Stops with a message libFuzzer records as a crash (an invariant the decoder promised does not hold).
func fuzzInvariant(_ ok: @autoclosure () -> Bool, _ what: @autoclosure () -> String) {
    if !ok() {
        FileHandle.standardError.write(Data("segviz-fuzz: invariant violated: \(what())\n".utf8))
        abort()
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let env = ProcessInfo.processInfo.environment
    if let dir = env["SEGVIZ_FUZZ_SEEDS"] {
        do {
            for t in allTargets {
                let d = URL(fileURLWithPath: dir).appendingPathComponent(t.name)
                try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
                for (i, s) in try t.seeds().enumerated() {
                    try Data(s).write(to: d.appendingPathComponent(String(format: "seed-%03d", i)), options: .atomic)
                }
            }
        } catch {
            FileHandle.standardError.write(Data("segviz-fuzz: cannot write seeds to \(dir): \(error)\n".utf8))
            exit(1)
        }
        exit(0)
    }
    guard let name = env["SEGVIZ_FUZZ_TARGET"], let t = allTargets.first(where: { $0.name == name }) else {
        let names = allTargets.map(\.name).joined(separator: " ")
        FileHandle.standardError.write(Data("segviz-fuzz: set SEGVIZ_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    selectedTarget = t
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    selectedTarget?.run(bytes)
    return 0
}
