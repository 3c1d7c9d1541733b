import Foundation
import Tensor

/// The server optimiser's state in the aggregator's state folder: `DIR/server-optimizer/state-rNNNN.safetensors`
/// holds the state after global model round N (momentum, second moment, step count, and the spec it belongs to).
/// Each file is written atomically before the round's ledger record, so whichever round the ledger says is the
/// latest, its state is on disk; a restarted aggregator continues exactly where the last completed round left off.
public struct ServerOptimizerStore: Sendable {
    /// The folder of the state files.
    public let directory: String
    /// The manifest's `format` value.
    static let format = "segviz-server-optimizer/1"

    /// Opens (creating) `stateDirectory/server-optimizer`.
    public init(stateDirectory: String) throws {
        directory = URL(fileURLWithPath: stateDirectory).appendingPathComponent("server-optimizer").path
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw FederationError.file(path: directory, problem: "cannot create: \(error.localizedDescription)")
        }
    }

    /// The state file after global model round `round`.
    public func path(round: Int) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent(String(format: "state-r%04d.safetensors", round)).path
    }

    /// Writes the state after global model round `round` (atomically), then removes the files of rounds before
    /// `keepFrom` (the previous completed round, still needed if this round's record never reaches the ledger).
    public func save(_ optimizer: ServerOptimizer, round: Int, keepFrom: Int) throws {
        var f = SafetensorsFile(metadata: ["format": Self.format, "spec": optimizer.spec.manifestText,
                                           "step": String(optimizer.step), "round": String(round)])
        if !optimizer.momentum.isEmpty { f.set("momentum", .f32(shape: [optimizer.momentum.count], values: optimizer.momentum)) }
        if !optimizer.secondMoment.isEmpty {
            f.set("second_moment", .f32(shape: [optimizer.secondMoment.count], values: optimizer.secondMoment))
        }
        let p = path(round: round)
        do { try f.write(path: p) } catch { throw FederationError.file(path: p, problem: "\(error)") }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for n in names where n.hasPrefix("state-r") && n.hasSuffix(".safetensors") {
            guard let r = Int(n.dropFirst(7).dropLast(12)), r < keepFrom, r != round else { continue }
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: directory).appendingPathComponent(n).path)
        }
    }

    /// The optimiser to continue with after global model round `round` for a model of `count` parameters: fresh at
    /// round 0 (and for plain FedAvg, which has no state to lose), else the saved state, which must exist, be of
    /// `spec` and fit the model.
    public func load(round: Int, spec: FederationFile.ServerOptimizerSpec, count: Int) throws -> ServerOptimizer {
        let fresh = ServerOptimizer(spec: spec, count: count)
        if round == 0 { return fresh }
        let p = path(round: round)
        guard FileManager.default.fileExists(atPath: p) else {
            if spec.name == .fedavg { return fresh }
            throw FederationError.file(path: p, problem: "the \(spec.name.rawValue) server optimiser's state after round \(round) "
                                       + "is missing; restore it from a backup of the state folder (starting the optimiser afresh "
                                       + "would change the federation's course)")
        }
        let f: SafetensorsFile
        do { f = try SafetensorsFile.read(path: p) } catch { throw FederationError.file(path: p, problem: "\(error)") }
        guard f.metadata["format"] == Self.format, let stepText = f.metadata["step"], let step = Int(stepText),
              f.metadata["round"] == String(round) else {
            throw FederationError.file(path: p, problem: "not a server optimiser state of round \(round)")
        }
        guard f.metadata["spec"] == spec.manifestText else {
            throw FederationError.file(path: p, problem: "holds the state of server optimiser \(f.metadata["spec"] ?? "?"), "
                                       + "but the federation file says \(spec.manifestText)")
        }
        func array(_ name: String, _ expected: Int) throws -> [Float] {
            if expected == 0 { return [] }
            guard case let .f32(shape, values)? = f.tensors[name], shape == [expected] else {
                throw FederationError.file(path: p, problem: "tensor '\(name)' is missing or not \(expected) floats")
            }
            return values
        }
        return ServerOptimizer(spec: spec, step: step, momentum: try array("momentum", fresh.momentum.count),
                               secondMoment: try array("second_moment", fresh.secondMoment.count))
    }
}
