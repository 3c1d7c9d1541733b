import Federation
import Foundation
import NN

/// The setups an experiment compares, in report order.
public enum Setup: String, CaseIterable, Codable, Sendable {
    /// Each site trained alone on its own organ (binary model): the paper's individual baselines.
    case individual
    /// All sites' data pooled in one place, one multi-class model, marginal loss for the partial labels.
    case centralised
    /// SegViz: shared core, one task head per organ averaged over the sites annotating it; plain weighted mean.
    case segviz
    /// SegViz with the real secure-aggregation client and server state machines (quantised, masked).
    case segvizSecure = "segviz-secure"
    /// SegViz with batch norm kept local at each site (FedBN); always a batch-norm network, whatever `network.norm`
    /// says; the published model carries the averaged norms.
    case segvizFedBN = "segviz-fedbn"
    /// One global multi-class model trained at every site with the marginal loss (Shi et al. 2021, ConDistFL).
    case global
    /// The global model plus hard distillation (the previous global model's argmax) for unannotated organs.
    case globalDistill = "global-distill"
    /// The global model trained with the shipped recipe (`Federation.TrainingRecipe`, ``ExperimentConfig/recipe``:
    /// ConDistFL distillation, schedule, clipping, kept optimiser state), exactly as a node trains; plain mean.
    case recipe
    /// The same with the real secure-aggregation state machines.
    case recipeSecure = "recipe-secure"

    /// Human-readable label for the report.
    public var title: String {
        switch self {
        case .individual: return "Individual (each site alone)"
        case .centralised: return "Centralised (pooled, marginal loss)"
        case .segviz: return "SegViz heads (plain mean)"
        case .segvizSecure: return "SegViz heads (secure aggregation)"
        case .segvizFedBN: return "SegViz heads + FedBN"
        case .global: return "Global model (marginal loss)"
        case .globalDistill: return "Global model + hard distillation"
        case .recipe: return "Global model, shipped recipe (plain mean)"
        case .recipeSecure: return "Global model, shipped recipe (secure aggregation)"
        }
    }
}

extension ExperimentConfig {
    /// Checks every field; throws ``ExperimentError/config(path:field:problem:)`` naming the first bad one.
    public func validate(path: String) throws {
        func fail(_ field: String, _ problem: String) throws -> Never {
            throw ExperimentError.config(path: path, field: field, problem: problem)
        }
        if phantom.size.count != 3 || phantom.size.contains(where: { $0 < 16 }) { try fail("phantom.size", "needs three sizes of at least 16") }
        if !(phantom.spacing > 0) { try fail("phantom.spacing", "must be positive") }
        if sites.isEmpty { try fail("sites", "needs at least one site") }
        var ids = Set<String>()
        for (n, s) in sites.enumerated() {
            if s.id.isEmpty || !s.id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
                try fail("sites.\(n).id", "'\(s.id)' must be letters, digits, - or _")
            }
            if !ids.insert(s.id).inserted { try fail("sites.\(n).id", "'\(s.id)' is used twice") }
            if !["liver", "spleen"].contains(s.organ) { try fail("sites.\(n).organ", "'\(s.organ)' must be liver or spleen") }
            if s.cases < 1 { try fail("sites.\(n).cases", "must be at least 1") }
        }
        for organ in ["liver", "spleen"] where !sites.contains(where: { $0.organ == organ }) {
            try fail("sites", "no site annotates the \(organ)")
        }
        if external.cases < 1 { try fail("external.cases", "must be at least 1") }
        if network.channels.count < 2 || network.channels.contains(where: { $0 < 1 }) {
            try fail("network.channels", "needs at least two positive channel counts")
        }
        if network.numResUnits < 0 { try fail("network.numResUnits", "must not be negative") }
        if !["batch", "instance"].contains(network.norm) { try fail("network.norm", "'\(network.norm)' must be batch or instance") }
        let t = training
        if t.rounds < 1 { try fail("training.rounds", "must be at least 1") }
        if t.localEpochs < 1 { try fail("training.localEpochs", "must be at least 1") }
        let multiple = 1 << (network.channels.count - 1)
        if t.patch.count != 3 || t.patch.contains(where: { $0 < 8 || $0 % multiple != 0 }) {
            try fail("training.patch", "needs three sizes of at least 8, each a multiple of \(multiple) for \(network.channels.count) levels")
        }
        if phantom.size.count == 3 && (0..<3).contains(where: { t.patch[$0] > phantom.size[$0] }) {
            try fail("training.patch", "patch (i,j,k) \(t.patch) is larger than the phantom \(phantom.size)")
        }
        if t.patchesPerVolume < 1 { try fail("training.patchesPerVolume", "must be at least 1") }
        if !(t.learningRate > 0) { try fail("training.learningRate", "must be positive") }
        if t.window.count != 2 || !(t.window[0] < t.window[1]) { try fail("training.window", "needs lower < upper HU") }
        if setups.isEmpty { try fail("setups", "names no setup") }
        for (n, s) in setups.enumerated() where Setup(rawValue: s) == nil {
            try fail("setups.\(n)", "'\(s)' is not one of \(Setup.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if setups.contains(Setup.segvizSecure.rawValue) && sites.count < 2 {
            try fail("sites", "secure aggregation needs at least two sites")
        }
        if seeds < 1 || seeds > 50 { try fail("seeds", "must be within 1...50") }
        if !(clip > 0) { try fail("clip", "must be positive") }
        if distillFromRound < 1 { try fail("distillFromRound", "must be at least 1") }
        if threads < 1 { try fail("threads", "must be at least 1") }
        let r = recipe
        if LearningRateSchedule(rawValue: r.learningRateSchedule) == nil {
            try fail("recipe.learningRateSchedule", "'\(r.learningRateSchedule)' must be cosine or constant")
        }
        if !(r.finalLearningRate >= 0) { try fail("recipe.finalLearningRate", "must not be negative") }
        if !(r.gradientClipNorm >= 0) { try fail("recipe.gradientClipNorm", "must not be negative (0: no clipping)") }
        if TrainingRecipe.Distillation(rawValue: r.distillation) == nil {
            try fail("recipe.distillation", "'\(r.distillation)' must be soft, hard or none")
        }
        if !(r.distillationTemperature > 0) { try fail("recipe.distillationTemperature", "must be positive") }
        if r.distillationWeight.count != 2 || r.distillationWeight.contains(where: { !($0 >= 0) }) {
            try fail("recipe.distillationWeight", "needs two non-negative weights (first and last round)")
        }
        if !(r.exclusionWeight >= 0) { try fail("recipe.exclusionWeight", "must not be negative") }
        if !(0...1).contains(r.axisFlip) { try fail("recipe.axisFlip", "must be a probability in 0...1") }
        if !(0...1).contains(r.positiveFraction) { try fail("recipe.positiveFraction", "must be a share in 0...1") }
        if !(0...1).contains(r.spatialAugmentation) { try fail("recipe.spatialAugmentation", "must be a probability in 0...1") }
        if !(0...1).contains(r.mirrorLeftRight) { try fail("recipe.mirrorLeftRight", "must be a probability in 0...1") }
        let so = serverOptimizer
        if !(so.learningRate > 0) { try fail("serverOptimizer.learningRate", "must be positive") }
        if !(0..<1).contains(so.beta1) { try fail("serverOptimizer.beta1", "must be in 0..<1") }
        if !(0..<1).contains(so.beta2) { try fail("serverOptimizer.beta2", "must be in 0..<1") }
        if !(so.tau > 0) { try fail("serverOptimizer.tau", "must be positive") }
        if setups.contains(Setup.recipeSecure.rawValue) && sites.count < 2 {
            try fail("sites", "secure aggregation needs at least two sites")
        }
        if let p = privacySweep.problem() { try fail(p.field, p.problem) }
    }
}

/// Deep merge of a user's JSON object over a preset's, refusing fields the preset does not have.
enum JSONMerge {
    static func merge(_ user: Any, over base: Any, path: String, field: String) throws -> Any {
        guard let b = base as? [String: Any] else { return user }
        guard let u = user as? [String: Any] else {
            throw ExperimentError.config(path: path, field: field.isEmpty ? "(top level)" : field, problem: "must be a JSON object")
        }
        var out = b
        for (k, v) in u {
            let name = field.isEmpty ? k : "\(field).\(k)"
            guard let bv = b[k] else {
                throw ExperimentError.config(path: path, field: name, problem: "unknown field (known: \(b.keys.sorted().joined(separator: ", ")))")
            }
            out[k] = try merge(v, over: bv, path: path, field: name)
        }
        return out
    }

    /// The dotted field a decoding error points at.
    static func field(of e: DecodingError) -> String {
        func path(_ c: [any CodingKey]) -> String { c.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case .keyNotFound(let k, let c): return path(c.codingPath + [k])
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return path(c.codingPath)
        @unknown default: return "(unknown)"
        }
    }
}
