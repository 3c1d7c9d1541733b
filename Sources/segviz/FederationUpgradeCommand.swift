import ArgumentParser
import Federation

/// `segviz federation upgrade FILE`: converts an older federation file to the current version in place.
struct FederationUpgradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Convert a federation file of an older version to the current one (keeps FILE.vN.bak).",
        discussion: "Keeps every value; refuses, listing every problem, if the result would not pass `segviz federation check`.")

    @Argument(help: "The federation file.") var file: String

    func run() throws {
        try failing {
            let from = try FederationUpgrade.upgradeFile(at: file)
            if from == FederationSchema.version { print("\(file): already version \(from); nothing to do") } else {
                print("\(file): upgraded from version \(from) to \(FederationSchema.version); the original is \(file).v\(from).bak")
                print("fingerprint: \(try FederationFile.load(from: file).fingerprint)")
            }
        }
    }
}
