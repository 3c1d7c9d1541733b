import Foundation
import SecureAggregation

/// Checks a federation file and reports every problem at once: first its structure against
/// `FederationSchema` (what `federation.schema.json` states), then what the values imply together.
public enum FederationValidator {
    /// Every problem of the file's bytes, and the decoded file (defaults filled in, and standing in for bad
    /// values) when it decodes; the file is usable only when there are no problems.
    public static func check(_ data: Data) -> (file: FederationFile?, problems: [FederationProblem]) {
        guard let tree = JSONValue.parse(data) else { return (nil, [.notJSON(reason: "not valid JSON")]) }
        return check(tree)
    }

    /// The same for a parsed tree.
    public static func check(_ tree: JSONValue) -> (file: FederationFile?, problems: [FederationProblem]) {
        guard let top = tree.object else { return (nil, [.notJSON(reason: "the file must be one JSON object")]) }
        if case .number(let v)? = top["version"], v == v.rounded(), v < Double(FederationSchema.version), v >= 1 {
            return (nil, [.outdatedVersion(found: Int(v))])
        }
        if case .number(let v)? = top["version"], v == v.rounded(), v > Double(FederationSchema.version), v < 1e9 {
            return (nil, [.unsupportedVersion(found: Int(v))])
        }
        var problems: [FederationProblem] = []
        structure(tree, FederationSchema.root, path: "", into: &problems)
        // With structural problems, values that have a default stand in for the bad ones, so that the relations
        // between the remaining values are still checked (and reported) in the same pass.
        let filled = withDefaultThreshold(FederationSchema.filled(problems.isEmpty ? tree : repaired(tree, FederationSchema.root)))
        guard let file = try? JSONDecoder().decode(FederationFile.self, from: Data(filled.canonicalText().utf8)) else {
            return (nil, problems)
        }
        let flagged = Set(problems.map(\.field))
        problems += relations(file).filter { r in !flagged.contains { $0 == r.field || $0.hasPrefix(r.field + ".") } }
        return (file, problems)
    }

    /// `tree` with each member that fails its own structural check replaced by its default, where it has one.
    static func repaired(_ tree: JSONValue, _ kind: FederationSchema.Kind) -> JSONValue {
        guard case .object(let fields) = kind, case .object(var members) = tree else { return tree }
        for f in fields {
            guard let v = members[f.name] else { continue }
            var own: [FederationProblem] = []
            if case .object = f.kind { members[f.name] = repaired(v, f.kind); continue }
            structure(v, f.kind, path: f.name, into: &own)
            if !own.isEmpty, let d = f.defaultValue { members[f.name] = d }
        }
        return .object(members)
    }

    /// Fills `secureAggregation.threshold`, whose default depends on the node count: floor(2h/3)+1 (or more than
    /// half with collusionTolerance none) of h share holders.
    static func withDefaultThreshold(_ tree: JSONValue) -> JSONValue {
        guard var top = tree.object, var sa = top["secureAggregation"]?.object, sa["threshold"] == nil,
              case .array(let nodes)? = top["nodes"] else { return tree }
        var holders = nodes.count
        if case .number(let k)? = sa["neighbours"], k >= 2, k < Double(nodes.count - 1) { holders = Int(k) + 1 }
        let tol: CollusionTolerance = sa["collusionTolerance"] == .string("none") ? .none : .colludingClients
        sa["threshold"] = .number(Double(tol.minimumThreshold(holders: holders)))
        top["secureAggregation"] = .object(sa)
        return .object(top)
    }

    static func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    static func show(_ v: JSONValue) -> String {
        if case .string(let s) = v { return s }
        let t = v.canonicalText()
        return t.count > 60 ? String(t.prefix(57)) + "..." : t
    }

    static func matches(_ s: String, _ pattern: String) -> Bool {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return false }
        return re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    /// What JSON Schema checks: types, required and unknown fields, allowed values, limits, forms.
    static func structure(_ v: JSONValue, _ kind: FederationSchema.Kind, path: String, into p: inout [FederationProblem]) {
        func wrong(_ expected: String) { p.append(.wrongType(field: path, expected: expected, found: v.typeName)) }
        switch kind {
        case let .nullable(inner):
            if v != .null { structure(v, inner, path: path, into: &p) }
        case let .string(allowed, pattern, minLength):
            guard case .string(let s) = v else { return wrong("a string") }
            if let allowed, !allowed.contains(s) { p.append(.notAllowed(field: path, value: s, allowed: allowed)) }
            else if s.count < minLength { p.append(.outOfRange(field: path, value: "''", limits: "must not be empty")) }
            else if let pattern, !matches(s, pattern) { p.append(.badFormat(field: path, value: s, expected: "of the form \(pattern)")) }
        case let .integer(lo, hi):
            guard case .number(let d) = v, d == d.rounded() else { return wrong("an integer") }
            if let lo, d < Double(lo) { p.append(.outOfRange(field: path, value: show(v), limits: "at least \(lo)")) }
            if let hi, d > Double(hi) { p.append(.outOfRange(field: path, value: show(v), limits: "at most \(hi)")) }
        case let .number(ex, lo, hi):
            guard case .number(let d) = v else { return wrong("a number") }
            if let ex, !(d > ex) { p.append(.outOfRange(field: path, value: show(v), limits: "must be greater than \(show(.number(ex)))")) }
            if let lo, d < lo { p.append(.outOfRange(field: path, value: show(v), limits: "at least \(show(.number(lo)))")) }
            if let hi, d > hi { p.append(.outOfRange(field: path, value: show(v), limits: "at most \(show(.number(hi)))")) }
        case .boolean:
            guard case .bool = v else { return wrong("true or false") }
        case let .array(item, lo, hi):
            guard case .array(let items) = v else { return wrong("an array") }
            if let lo, items.count < lo { p.append(.outOfRange(field: path, value: "\(items.count) entries", limits: "at least \(lo)")) }
            if let hi, items.count > hi { p.append(.outOfRange(field: path, value: "\(items.count) entries", limits: "at most \(hi)")) }
            for (i, x) in items.enumerated() { structure(x, item, path: join(path, String(i)), into: &p) }
        case let .map(values, keyPattern):
            guard case .object(let o) = v else { return wrong("an object") }
            for k in o.keys.sorted() {
                if !matches(k, keyPattern) { p.append(.badFormat(field: join(path, k), value: k, expected: "a label number 0...999")) }
                structure(o[k]!, values, path: join(path, k), into: &p)
            }
        case let .object(fields):
            guard case .object(let o) = v else { return wrong("an object") }
            let known = fields.map(\.name)
            for k in o.keys.sorted() where !known.contains(k) {
                p.append(.unknownField(field: join(path, k), suggestion: closest(k, known)))
            }
            for f in fields {
                if let x = o[f.name] { structure(x, f.kind, path: join(path, f.name), into: &p) }
                else if f.required { p.append(.missingField(field: join(path, f.name))) }
            }
        }
    }

    /// The known name nearest to `name` (edit distance, ignoring case), if near enough to be a typo.
    static func closest(_ name: String, _ known: [String]) -> String? {
        let a = Array(name.lowercased())
        func distance(_ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var prev = row[0]; row[0] = i
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    let cur = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                    prev = cur
                }
            }
            return row[b.count]
        }
        let best = known.map { ($0, distance(Array($0.lowercased()))) }.min { $0.1 < $1.1 }
        guard let best, best.1 <= max(2, a.count / 3) else { return nil }
        return best.0
    }
}
