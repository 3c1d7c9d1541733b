import Foundation
import Testing
@testable import Federation

/// Inputs `make fuzz` found, kept as test vectors (target federation-file).
@Suite struct FederationFuzzRegressionTests {
    /// The federation file's network spec reached `UNetConfig`'s preconditions unchecked: strides [3] (what the
    /// fuzzer found) trapped the aggregator and every node on start. Each bad field is now refused by name.
    @Test(arguments: [
        (#"{"channels":[2,4],"strides":[3],"numResUnits":1,"norm":"batch"}"#, "network.strides"),
        (#"{"channels":[2,0],"strides":[2],"numResUnits":1,"norm":"batch"}"#, "network.channels"),
        (#"{"channels":[2],"strides":[],"numResUnits":1,"norm":"batch"}"#, "network.channels"),
        (#"{"channels":[2,4],"strides":[2],"numResUnits":-1,"norm":"batch"}"#, "network.numResUnits"),
        (#"{"channels":[2,4],"strides":[2],"numResUnits":1,"norm":"group"}"#, "network.norm"),
    ])
    func badNetworkSpecIsRefusedByName(network: String, field: String) throws {
        let keys = (0..<3).map { _ in IdentityKey.generate().publicKey }
        let f = FederationSetup.defaultFederation(name: "fuzz", aggregatorKey: keys[0], url: "http://127.0.0.1:1", nodes: [
            (.init(id: "node-a", organs: ["liver"]), keys[1]), (.init(id: "node-b", organs: ["spleen"]), keys[2]),
        ])
        var json = try #require(try JSONSerialization.jsonObject(with: f.encoded()) as? [String: Any])
        json["network"] = try JSONSerialization.jsonObject(with: Data(network.utf8))
        let bytes = try JSONSerialization.data(withJSONObject: json)
        #expect { try FederationFile.decode(bytes, path: "fed.json") } throws: { e in
            let text = "\(e)"
            return text.hasPrefix("fed.json: ") && text.contains(field)
        }
        #expect(throws: Never.self) { try FederationFile.decode(f.encoded(), path: "fed.json") }
    }
}
