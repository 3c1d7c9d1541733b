import Foundation
import NN
import Tensor

/// A site's Adam state between rounds, per trained network (`model` for the single strategy, the organ's name
/// for each head): both moment estimates and the step count. It stays at the node: `segviz node --state DIR`
/// keeps it in DIR/optimiser-state.safetensors (written atomically after every round's training, read at start);
/// it is never sent anywhere.
public struct OptimiserState: Sendable, Equatable {
    /// The file name in a node's state folder.
    public static let fileName = "optimiser-state.safetensors"
    /// The format this version writes (the file's `format` metadata).
    public static let format = "segviz-optimiser-state/v1"
    /// The key of the single strategy's one network.
    public static let singleKey = "model"

    /// Adam's state per network key.
    public var networks: [String: Adam.State]

    /// An empty state (every network starts a fresh Adam).
    public init(networks: [String: Adam.State] = [:]) { self.networks = networks }

    /// As a safetensors file: `<key>.m`, `<key>.v` (F32) and `<key>.steps` (I64 scalar), with the federation and
    /// node it belongs to in the metadata.
    public func safetensors(federation: String, node: String) -> SafetensorsFile {
        var f = SafetensorsFile(metadata: ["format": Self.format, "federation": federation, "node": node])
        for key in networks.keys.sorted() {
            guard let s = networks[key] else { continue }
            f.set("\(key).m", .f32(shape: [s.m.count], values: s.m))
            f.set("\(key).v", .f32(shape: [s.v.count], values: s.v))
            f.set("\(key).steps", .i64(shape: [], values: [Int64(s.steps)]))
        }
        return f
    }

    /// Reads `path` (written by ``save(path:federation:node:)``); every problem is an error naming the file:
    /// not a safetensors file, another format, federation or node, a missing or mistyped tensor, a non-finite
    /// value, a negative second moment or step count.
    public static func load(path: String, federation: String, node: String) throws -> OptimiserState {
        let f: SafetensorsFile
        do { f = try SafetensorsFile.read(path: path) } catch {
            throw FederationError.file(path: path, problem: "not a readable optimiser state file (\(error)); move it away to start a fresh optimiser")
        }
        func fail(_ problem: String) -> FederationError { .file(path: path, problem: problem) }
        guard f.metadata["format"] == format else { throw fail("metadata format '\(f.metadata["format"] ?? "")' is not \(format)") }
        guard f.metadata["federation"] == federation else {
            throw fail("metadata federation '\(f.metadata["federation"] ?? "")' is not '\(federation)'")
        }
        guard f.metadata["node"] == node else { throw fail("metadata node '\(f.metadata["node"] ?? "")' is not '\(node)'") }
        var networks: [String: Adam.State] = [:]
        let keys = Set(f.names.compactMap { n -> String? in n.hasSuffix(".steps") ? String(n.dropLast(6)) : nil })
        for key in keys.sorted() {
            guard case let .f32(ms, m)? = f.tensors["\(key).m"], case let .f32(vs, v)? = f.tensors["\(key).v"],
                  ms.count == 1, ms == vs else { throw fail("tensors '\(key).m' and '\(key).v' must be F32 vectors of one length") }
            guard case let .i64(_, steps)? = f.tensors["\(key).steps"], steps.count == 1, steps[0] >= 0 else {
                throw fail("tensor '\(key).steps' must be one non-negative I64")
            }
            guard m.allSatisfy(\.isFinite), v.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw fail("'\(key).m' or '\(key).v' holds a non-finite or (second moment) negative value")
            }
            networks[key] = Adam.State(m: m, v: v, steps: Int(steps[0]))
        }
        let stray = Set(f.names).subtracting(keys.flatMap { ["\($0).m", "\($0).v", "\($0).steps"] })
        if let s = stray.sorted().first { throw fail("unexpected tensor '\(s)'") }
        return OptimiserState(networks: networks)
    }

    /// Writes the state to `path` atomically (temporary file, then rename).
    public func save(path: String, federation: String, node: String) throws {
        do { try safetensors(federation: federation, node: node).write(path: path) } catch {
            throw FederationError.file(path: path, problem: "cannot write the optimiser state: \(error)")
        }
    }
}
