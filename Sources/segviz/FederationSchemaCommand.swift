import ArgumentParser
import Federation

/// `segviz federation schema`: prints the federation file's JSON Schema (as `federation.schema.json`).
struct FederationSchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the federation file's JSON Schema (draft 2020-12; the repository's federation.schema.json).")

    func run() throws { print(FederationSchema.jsonSchemaText()) }
}
