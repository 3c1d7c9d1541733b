import ArgumentParser

/// `segviz privacy ...`: differential-privacy accounting.
struct PrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract: "Differential-privacy accounting for patient-level DP-SGD.",
        subcommands: [PrivacyEpsilon.self])
}
