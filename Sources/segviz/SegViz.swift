import ArgumentParser

/// The `segviz` command: secure federated CT segmentation after the SegViz paper.
@main
struct SegViz: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segviz",
        abstract: "Secure federated liver and spleen segmentation from partially annotated CT sites.",
        subcommands: [Keygen.self, Init.self, FederationCommand.self, Aggregator.self, Node.self, Verify.self, Infer.self, Export.self,
                      Audit.self, Demo.self, Phantom.self, Picture.self, Train.self, Evaluate.self, ExperimentCommand.self, Bench.self,
                      Relay.self, PrivacyCommand.self]
    )
}

/// `segviz bench ...`: release-build benchmarks; each prints its figures as key=value on its last line.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (run from a release build); the last line is key=value figures.",
        subcommands: [BenchUNet.self, BenchInfer.self, BenchNode.self, BenchSecAgg.self, BenchLoad.self, BenchPhantom.self]
    )
}
