import Federation
import Foundation
import Imaging
import NN
import SecureAggregation
import Tensor

/// Trains and evaluates every selected setup on the same sites, external set, seeds and training budget,
/// in-process (no HTTP, no child processes).
public final class ExperimentRunner {
    let config: ExperimentConfig
    let data: ExperimentData
    let evaluator: Evaluator
    let training: RoundTraining
    let log: (String) -> Void
    /// Final predictions of the last seed per run name (external case order), for the overlays.
    public private(set) var predictions: [String: [Volume]] = [:]

    /// A runner over prepared data; `log` receives progress lines.
    public init(config: ExperimentConfig, data: ExperimentData, log: @escaping (String) -> Void) {
        self.config = config
        self.data = data
        evaluator = Evaluator(data: data, patch: config.training.patch)
        training = RoundTraining(config)
        self.log = log
    }

    /// Every run of every seed, setups in report order.
    public func runAll() throws -> [SetupRun] {
        var runs: [SetupRun] = []
        for s in 0..<config.seeds {
            for setup in config.selectedSetups { runs += try run(setup, seed: s) }
        }
        return runs
    }

    /// The runs of one setup and seed (one per site for the individual baselines).
    public func run(_ setup: Setup, seed: Int) throws -> [SetupRun] {
        let sites = data.sites.map { $0.reseeded(seed) }
        switch setup {
        case .individual:
            return try sites.map { site in
                try timed(name: "individual-\(site.id)", setup: setup, seed: seed, organs: [site.organ], strategy: .heads) { model, round in
                    training.trainHead(model: &model, site: site, epochs: config.training.localEpochs, round: round)
                    return nil
                }
            }
        case .centralised:
            return [try timed(name: setup.rawValue, setup: setup, seed: seed, organs: Organ.allCases, strategy: .single) { model, round in
                training.trainSingle(model: &model, sites: sites, epochs: config.training.localEpochs, round: round)
                return nil
            }]
        case .segviz, .segvizSecure, .segvizFedBN, .global, .globalDistill, .recipe, .recipeSecure:
            let strategy: FederationFile.Strategy = [.global, .globalDistill, .recipe, .recipeSecure].contains(setup) ? .single : .heads
            let federated = FederatedRounds(config: config, sites: sites, training: training,
                                            secure: [.segvizSecure, .recipeSecure].contains(setup),
                                            localPatterns: setup == .segvizFedBN ? [".adn.N."] : [],
                                            recipe: recipe(for: setup),
                                            serverOptimizer: [.recipe, .recipeSecure].contains(setup) ? config.serverOptimizer : .fedavg,
                                            weighting: [.recipe, .recipeSecure].contains(setup) ? config.weighting : .samples)
            var run = try timed(name: setup.rawValue, setup: setup, seed: seed, organs: Organ.allCases, strategy: strategy) { model, round in
                try federated.round(global: &model, round: round)
            }
            run.largestUpdates = federated.largestUpdates
            return [run]
        }
    }

    /// The local training recipe of a federated setup of the global model: the shipped one for `recipe`, the
    /// earlier plain one (fresh Adam at a constant rate, marginal loss) for `global`, plus hard distillation from
    /// round `distillFromRound` for `global-distill`.
    func recipe(for setup: Setup) -> TrainingRecipe {
        let lr = config.training.learningRate, rounds = config.training.rounds
        switch setup {
        case .recipe, .recipeSecure: return config.recipe.trainingRecipe(learningRate: lr, rounds: rounds)
        case .globalDistill:
            var r = TrainingRecipe.plain(learningRate: Float(lr), rounds: rounds)
            r.distillation = .hard
            return r
        default: return .plain(learningRate: Float(lr), rounds: rounds)
        }
    }

    /// The `recipe` setup as run `name`, every site training with patient-level DP-SGD `privacy` (nil: without);
    /// returns the run and each site's privacy account over the steps its training took.
    func runRecipe(name: String, privacy: DPSGDSettings?, seed: Int) throws
        -> (run: SetupRun, accounts: [PrivacyAccount], meanGradientNorm: Double) {
        let federated = FederatedRounds(config: config, sites: data.sites.map { $0.reseeded(seed) }, training: training, secure: false,
                                        localPatterns: [], recipe: recipe(for: .recipe), serverOptimizer: config.serverOptimizer,
                                        weighting: config.weighting, privacy: privacy)
        var run = try timed(name: name, setup: .recipe, seed: seed, organs: Organ.allCases, strategy: .single) { model, round in
            try federated.round(global: &model, round: round)
        }
        run.largestUpdates = federated.largestUpdates
        let norms = federated.gradientNorms
        return (run, federated.accounts, norms.reduce(0, +) / Double(max(norms.count, 1)))
    }

    /// Runs `rounds` rounds of `step` on a fresh model (initialised from the seed), evaluating after each.
    private func timed(name: String, setup: Setup, seed: Int, organs: [Organ], strategy: FederationFile.Strategy,
                       step: (inout FederatedModel, Int) throws -> SecureRoundCheck?) throws -> SetupRun {
        let t0 = Date()
        var spec = try config.network.federationSpec()
        if setup == .segvizFedBN { spec.norm = "batch" }  // FedBN is defined on batch-norm layers
        var model = FederatedModel(strategy: strategy, organs: Organ.allCases.sorted().map(\.description), network: spec,
                                   seed: config.training.seed &+ UInt64(seed))
        var rounds: [RoundDice] = []
        var checks: [SecureRoundCheck] = []
        for r in 1...config.training.rounds {
            if let check = try step(&model, r) { checks.append(check) }
            let dice = try evaluator.meanDice(model: model, organs: organs)
            rounds.append(RoundDice(round: r, dice: dice))
            let text = dice.sorted { $0.key < $1.key }.map { String(format: "%@ %.3f", $0.key, $0.value) }.joined(separator: " ")
            log(String(format: "seed %d %@ round %d/%d: Dice %@ (%.0f s)", seed, name, r, config.training.rounds, text,
                       Date().timeIntervalSince(t0))
                + TimeLeft.text(elapsed: Date().timeIntervalSince(t0), done: r, total: config.training.rounds, of: "this setup"))
        }
        let (scores, preds) = try evaluator.scores(model: model, organs: organs)
        if seed == config.seeds - 1 { predictions[name] = preds }
        return SetupRun(name: name, setup: setup.rawValue, seed: seed, organs: organs.map(\.description), rounds: rounds,
                        cases: scores, seconds: Date().timeIntervalSince(t0), secureChecks: setup == .segvizSecure ? checks : nil)
    }
}

/// The federated setups' round: every site trains from the global model, the updates are combined (plain mean
/// or secure aggregation), the global model moves by the aggregate.
final class FederatedRounds {
    let config: ExperimentConfig
    let sites: [SiteData]
    let training: RoundTraining
    let secure: Bool
    let localPatterns: [String]
    /// The single strategy's local training recipe.
    let recipe: TrainingRecipe
    let identities: [Identity.SigningKey]
    /// Each site's last trained model (FedBN: its kept-local tensors start from here).
    private var locals: [FederatedModel?]
    /// Each site's optimiser state, kept between rounds as a node keeps it.
    private var optimisers: [OptimiserState]
    /// The largest |update| any site sent, per round.
    private(set) var largestUpdates: [Double] = []
    /// Patient-level DP-SGD at every site (single strategy only); nil: plain training.
    let privacy: DPSGDSettings?
    /// Each site's privacy account over the DP-SGD steps its training reported (empty accounts without privacy).
    private(set) var accounts: [PrivacyAccount]
    /// The mean gradient norm (per patient with privacy, per batch without) before clipping, per site and epoch.
    private(set) var gradientNorms: [Double] = []
    /// The server optimiser on each round's mean update (as the aggregator's; nil until the first round).
    private var server: ServerOptimizer?
    private let serverSpec: FederationFile.ServerOptimizerSpec
    /// Each site's weight factor (``Federation/Weighting``).
    let factors: [Int]

    init(config: ExperimentConfig, sites: [SiteData], training: RoundTraining, secure: Bool, localPatterns: [String],
         recipe: TrainingRecipe, serverOptimizer: FederationFile.ServerOptimizerSpec = .fedavg, weighting: Weighting = .samples,
         privacy: DPSGDSettings? = nil) {
        factors = weighting.factors(nodeOrgans: sites.map { [$0.organ.description] })
        precondition(privacy == nil || localPatterns.isEmpty, "FederatedRounds: blocks kept local would be published un-noised")
        serverSpec = serverOptimizer
        self.privacy = privacy
        accounts = Array(repeating: PrivacyAccount(), count: sites.count)
        self.config = config
        self.sites = sites
        self.training = training
        self.secure = secure
        self.localPatterns = localPatterns
        self.recipe = recipe
        identities = secure ? sites.map { _ in Identity.SigningKey() } : []
        locals = Array(repeating: nil, count: sites.count)
        optimisers = Array(repeating: OptimiserState(), count: sites.count)
    }

    /// One round on `global` (updated in place); returns the secure-vs-plain check for secure rounds.
    func round(global: inout FederatedModel, round r: Int) throws -> SecureRoundCheck? {
        var roundRecipe = recipe
        if recipe.distillation == .hard && r < config.distillFromRound { roundRecipe.distillation = .none }
        var contributions: [Contribution] = []
        for (k, site) in sites.enumerated() {
            var local = global
            if let previous = locals[k] {
                for i in local.entryIndices(matching: localPatterns) {
                    let e = local.entries[i]
                    local.values.replaceSubrange(e.range, with: previous.values[e.range])
                }
            }
            switch global.strategy {
            case .single:
                // What a node runs: Federation's site training with the recipe, the round's global model as teacher,
                // and with privacy its DP-SGD loop (seeded noise, so that a run can be repeated).
                var siteTraining = SiteTraining(set: site.set, organs: [site.organ], patch: config.training.patch,
                                                patchesPerVolume: config.training.patchesPerVolume, recipe: roundRecipe,
                                                seed: site.samplingSeed)
                siteTraining.privacy = privacy
                siteTraining.noiseSeed = privacy.map { _ in site.samplingSeed ^ 0xD9_5EED }
                var steps = 0
                siteTraining.train(model: &local, epochs: config.training.localEpochs, round: r, completedRounds: r - 1, teacher: global,
                                   optimiser: &optimisers[k]) { epoch in
                    steps = epoch.privateSteps
                    gradientNorms.append(Double(epoch.meanGradientNorm))
                }
                if let privacy { accounts[k] = try accounts[k].composing(privacy.mechanism, steps: steps) }
            case .heads:
                precondition(privacy == nil, "FederatedRounds: privacy is accounted for one network per site (single strategy)")
                training.trainHead(model: &local, site: site, epochs: config.training.localEpochs, round: r)
            }
            if !localPatterns.isEmpty { locals[k] = local }
            var delta = local.values
            for i in delta.indices { delta[i] -= global.values[i] }
            contributions.append(Contribution(delta: delta, model: global, organs: [site.organ.description],
                                              samples: site.set.items.count, factor: factors[k]))
        }
        largestUpdates.append(contributions.map { $0.delta.map { Double(abs($0)) }.max() ?? 0 }.max() ?? 0)
        let plain = Aggregation.plainMean(contributions, model: global)
        var mean = plain
        var check: SecureRoundCheck?
        if secure {
            let (s, bound) = try Aggregation.secureMean(contributions, model: global, round: r, clip: config.clip, identities: identities)
            let largest = contributions.map { $0.delta.map { Double(abs($0)) }.max() ?? 0 }.max() ?? 0
            check = SecureRoundCheck(round: r, maxAbsDifference: Aggregation.maxAbsDifference(s, plain), bound: bound,
                                     maxAbsUpdate: largest)
            mean = s
        }
        // The aggregator's step: the mean update through the server optimiser; tensors nobody contributed to stay.
        var server = self.server ?? ServerOptimizer(spec: serverSpec, count: global.values.count)
        let frozen = global.entries.enumerated().filter { b, _ in !contributions.contains { $0.blockWeights[b] > 0 } }.map { $0.1.range }
        server.apply(to: &global.values, delta: mean, optimised: ServerOptimizer.optimisedRanges(global), frozen: frozen)
        self.server = server
        return check
    }
}

extension ExperimentConfig.Network {
    /// The federation file's network entry for this network (strides 2 between levels).
    func federationSpec() throws -> FederationFile.NetworkSpec {
        let fields: [String: Any] = ["channels": channels, "strides": Array(repeating: 2, count: channels.count - 1),
                                     "numResUnits": numResUnits, "norm": norm]
        return try JSONDecoder().decode(FederationFile.NetworkSpec.self, from: JSONSerialization.data(withJSONObject: fields))
    }
}

extension SiteData {
    /// The same site with its patch sampling seed moved to seed repeat `s` (repeat 0 is unchanged).
    func reseeded(_ s: Int) -> SiteData {
        SiteData(id: id, organ: organ, set: set, samplingSeed: samplingSeed &+ UInt64(s) &* 0x9E37_79B9_7F4A_7C15)
    }
}
