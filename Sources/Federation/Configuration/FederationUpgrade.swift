import Foundation
import Tensor

/// Converts a federation file of an older version to the current one (`segviz federation upgrade`).
///
/// Version 1 had the same fields as version 2, all required; version 2 gives most of them defaults, refuses
/// unknown fields and checks values against each other. An upgrade keeps every value as it was (so the
/// federation trains as before) and sets `version`; the result must pass the version-2 checks.
public enum FederationUpgrade {
    /// The upgraded file's bytes (pretty, keys sorted), or every problem that stops the upgrade.
    public static func upgrade(_ data: Data, path: String) throws -> (data: Data, from: Int) {
        guard var top = JSONValue.parse(data)?.object else {
            throw FederationFile.LoadError(path: path, problem: .notJSON(reason: "not a JSON object"))
        }
        guard case .number(let v)? = top["version"], v == v.rounded(), v >= 1 else {
            throw FederationFile.LoadError(path: path, problem: .missingField(field: "version"))
        }
        let from = Int(v)
        if from > FederationSchema.version { throw FederationFile.LoadError(path: path, problem: .unsupportedVersion(found: from)) }
        top["version"] = .number(Double(FederationSchema.version))
        let tree = JSONValue.object(top)
        let (file, problems) = FederationValidator.check(tree)
        guard let file, problems.isEmpty else { throw FederationFile.LoadError(path: path, problems: problems) }
        return (try file.encoded(), from)
    }

    /// Upgrades the file at `path` in place, keeping the original as `PATH.vN.bak`; returns the old version
    /// (the current one: nothing written).
    @discardableResult
    public static func upgradeFile(at path: String) throws -> Int {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FederationFile.LoadError(path: path, problem: .notJSON(reason: "cannot read: \(error.localizedDescription)"))
        }
        let (out, from) = try upgrade(data, path: path)
        guard from < FederationSchema.version else { return from }
        try AtomicFile.write(path: "\(path).v\(from).bak", contents: data)
        try AtomicFile.write(path: path, contents: out)
        return from
    }
}
