import ArgumentParser
import Federation
import Foundation

/// `segviz verify`: checks a global model's detached signature and prints its manifest.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a signed global model (FILE + FILE.minisig) and print its manifest.")

    @Option(help: "The model file (.safetensors); its signature is MODEL.minisig.") var model: String
    @Option(help: "The signer's public key file (minisign format).") var pubkey: String?
    @Option(help: "A federation file: the signer must be its aggregator.") var federation: String?

    func validate() throws {
        guard (pubkey == nil) != (federation == nil) else {
            throw ValidationError("give exactly one of --pubkey or --federation")
        }
    }

    func run() throws {
        try failing {
            let key = try TrustedKey.load(pubkey: pubkey, federation: federation)
            let verified = try VerifiedModel.open(path: model, publicKey: key)
            print("signature: OK (key id \(key.keyIDHex))")
            print("trusted comment: \(verified.trustedComment)")
            for (k, v) in verified.manifest.sorted(by: { $0.key < $1.key }) { print("\(k): \(v)") }
            try Self.printPrivacy(verified.manifest, federation: federation)
        }
    }
}

extension Verify {
    /// With a `privacy` key in the manifest: the budget and the attesting nodes; with `--federation`, each
    /// attestation re-verified against the node keys of the file (a failure exits non-zero).
    static func printPrivacy(_ manifest: [String: String], federation: String?) throws {
        guard let text = manifest["privacy"] else { return }
        guard let p = RoundPrivacy(manifestText: text) else {
            throw FederationError.invalidField(field: "privacy", value: String(text.prefix(80)), expected: "the manifest's privacy object")
        }
        print("privacy: " + p.summary)
        guard let federation else {
            print("privacy attestations: not checked (give --federation to check them against the node keys)")
            return
        }
        // The model of ledger round r carries round r's attestations, one from each participant.
        let round = manifest["round"].flatMap { Int($0) }
        let participants = manifest["participants"].flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
        let problems = p.problems(federation: try FederationFile.load(from: federation), round: round, survivors: participants)
        if problems.isEmpty {
            print("privacy attestations: \(p.attestations.count) verify against the federation file's node keys")
        } else {
            for q in problems { print("PROBLEM: \(q)") }
            throw ExitCode.failure
        }
    }
}

/// Where the trusted signer key comes from: a public key file or a federation file's aggregator entry.
enum TrustedKey {
    static func load(pubkey: String?, federation: String?) throws -> Minisign.PublicKey {
        if let pubkey { return try KeyFiles.loadPublicKey(path: pubkey) }
        guard let federation else { throw ValidationError("give exactly one of --pubkey or --federation") }
        let f = try FederationFile.load(from: federation)
        return try f.aggregatorKey()
    }
}
