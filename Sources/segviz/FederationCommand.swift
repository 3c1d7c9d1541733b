import ArgumentParser

/// `segviz federation ...`: the federation file's tools.
struct FederationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "federation",
        abstract: "Check, upgrade or describe a federation file.",
        subcommands: [FederationCheck.self, FederationUpgradeCommand.self, FederationSchemaCommand.self])
}
