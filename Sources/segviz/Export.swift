import ArgumentParser
import Federation
import Foundation
import Tensor

/// `segviz export`: a verified global model as MONAI `UNet` state dicts, one per organ for a `heads` model.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a signed global model (verified first) as MONAI UNet state dicts.",
        discussion: """
        A `single` model becomes OUT/model.safetensors (out_channels = 1 + organs); a `heads` model becomes \\
        OUT/<organ>.safetensors per organ: the shared core plus that organ's head, a 2-class UNet (background, \\
        organ). Each loads with `UNet(**arch).load_state_dict(safetensors.torch.load_file(f), strict=True)`, its \\
        metadata holds `architecture` (MONAI's UNet arguments), `spacing`, `window` and `roi_ijk`.
        """)

    @Option(help: "Global model (.safetensors with MODEL.minisig beside it).") var model: String
    @Option(help: "The aggregator's public key.") var pubkey: String?
    @Option(help: "Federation file (alternative to --pubkey: its aggregator key).") var federation: String?
    @Option(help: "Output folder (created).") var out: String

    func validate() throws {
        guard (pubkey == nil) != (federation == nil) else { throw ValidationError("give exactly one of --pubkey or --federation") }
    }

    func run() throws {
        try failing {
            let key = try TrustedKey.load(pubkey: pubkey, federation: federation)
            let verified = try VerifiedModel.open(path: model, publicKey: key)
            let m = try verified.model()
            let manifest = verified.manifest
            guard let archText = manifest["architecture"],
                  var arch = try JSONSerialization.jsonObject(with: Data(archText.utf8)) as? [String: Any] else {
                throw FederationError.manifestKey(path: model, key: "architecture", expected: "a JSON object")
            }
            // MONAI's UNet arguments only
            for k in ["strategy", "organs", "network"] { arch.removeValue(forKey: k) }
            arch["spatial_dims"] = 3
            arch["out_channels"] = m.config.outChannels
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let targets: [(String, String?)] = m.strategy == .heads ? m.organs.map { ($0, $0) } : [("model", nil)]
            for (n, (name, organ)) in targets.enumerated() {
                var meta = ["architecture": json(arch), "network": "monai.networks.nets.UNet",
                            "spacing": manifest["spacing"] ?? "", "window": manifest["window"] ?? "",
                            "roi_ijk": manifest["patch"] ?? "", "source_model": (model as NSString).lastPathComponent,
                            "round": manifest["round"] ?? ""]
                if let organ {
                    // the organ's label number in segviz's masks
                    meta["organ"] = organ; meta["label"] = String(n + 1); meta["classes"] = json(["background", organ])
                }
                else { meta["classes"] = json(["background"] + m.organs) }
                let path = URL(fileURLWithPath: out).appendingPathComponent(name + ".safetensors").path
                try m.monaiStateDict(organ: organ, metadata: meta).write(path: path)
                print("wrote \(path)")
            }
        }
    }

    private func json(_ v: Any) -> String {
        guard let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]) else { return "null" }
        return String(decoding: d, as: UTF8.self)
    }
}
