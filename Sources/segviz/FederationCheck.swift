import ArgumentParser
import Federation
import Foundation

/// `segviz federation check FILE`: every problem of a federation file at once, starting nothing.
struct FederationCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a federation file (every problem at once) and print its fingerprint; starts nothing.",
        discussion: "Exit status 0 when the file is usable, 1 otherwise. The aggregator and every node run the same check at start.")

    @Argument(help: "The federation file.") var file: String

    func run() throws {
        try failing {
            let f = try FederationFile.load(from: file)
            print("\(file): OK: federation '\(f.name)', \(f.nodes.count) nodes, strategy \(f.strategy.rawValue), "
                  + "\(f.rounds) rounds of \(f.localEpochs) local epochs, threshold \(f.secureAggregation.threshold) of \(f.nodes.count)")
            print("fingerprint: \(f.fingerprint)")
        }
    }
}
