import ArgumentParser
import Federation

/// `segviz keygen`: a node's (or the aggregator's) Ed25519 identity key pair.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate an Ed25519 identity key pair (minisign formats; the private key is written 0600).",
        discussion: "Writes OUT/ID.pub (share it; pinned in the federation file) and OUT/ID.key (never share). Refuses to overwrite.")

    @Option(help: "Identity name: letters, digits, '-' or '_'.") var id: String
    @Option(help: "Directory for the key files.") var out: String = "keys"

    func run() throws {
        try failing {
            let pub = try KeyFiles.generate(id: id, directory: out)
            let (p, k) = KeyFiles.paths(id: id, directory: out)
            print("public key:  \(p)  (key id \(pub.keyIDHex))")
            print("private key: \(k)  (mode 0600; never commit or share it)")
            print("federation file entry: {\"id\": \"\(id)\", \"publicKey\": \"\(pub.base64)\"}")
        }
    }
}
