import Imaging
import NN
import Tensor

/// Local training of a federated model on one site's training set with the federation's ``TrainingRecipe``, for
/// either strategy: the epoch loop that a federation node (``SiteTrainer``), the demo and the experiment all run.
///
/// - `single`: the multi-class network with the marginal Dice-CE loss (organs the site does not annotate are
///   merged into background, Shi et al. 2021), plus the recipe's distillation from the round's global model (the
///   teacher, in eval mode: ConDistFL's soft conditional distillation, or hard pseudo-labels) and exclusion loss.
/// - `heads`: for each organ the site annotates, the core plus that organ's binary head (organ vs rest).
///
/// Patches come from `TrainingSet.epoch` with the site's sampling `seed` and `round * 10_000 + epoch` as the
/// stream. The learning rate follows the recipe's schedule over the global step (completed rounds x steps per
/// round + local step); Adam's state comes from and goes back to an ``OptimiserState`` when the recipe keeps it.
public struct SiteTraining: Sendable {
    /// The site's preprocessed cases.
    public let set: TrainingSet
    /// The organs the site annotates.
    public let organs: [Organ]
    /// Patch size D,H,W (tensor order).
    public let patch: [Int]
    /// Patches drawn per volume and epoch.
    public let patchesPerVolume: Int
    /// The training recipe.
    public let recipe: TrainingRecipe
    /// Seed of the site's patch sampling.
    public let seed: UInt64
    /// Patient-level DP-SGD (`SiteTraining+Privacy.swift`); nil: plain training.
    public var privacy: DPSGDSettings? = nil
    /// Seed of the privacy noise (tests and experiments only); nil: the operating system's CSPRNG.
    public var noiseSeed: UInt64? = nil

    /// What one epoch of one network did.
    public struct EpochStats: Sendable {
        /// Epoch index in the round (from 0).
        public var epoch: Int
        /// Mean training loss over its steps.
        public var meanLoss: Float
        /// Mean and largest gradient L2 norm before clipping.
        public var meanGradientNorm: Float, maxGradientNorm: Float
        /// Learning rate of its last step.
        public var learningRate: Float
        /// DP-SGD steps this network has taken so far in the round (0 without privacy).
        public var privateSteps: Int = 0
    }

    /// Training of `set` (annotating `organs`) with the given budget and recipe.
    public init(set: TrainingSet, organs: [Organ], patch: [Int], patchesPerVolume: Int, recipe: TrainingRecipe, seed: UInt64) {
        precondition(patch.count == 3, "SiteTraining: patch needs D,H,W")
        self.set = set
        self.organs = organs.sorted()
        self.patch = patch
        self.patchesPerVolume = patchesPerVolume
        self.recipe = recipe
        self.seed = seed
    }

    /// Trains `model` in place for `epochs` of round `round`, which starts after `completedRounds` completed
    /// rounds (default `round - 1`), distilling from `teacher` (default: `model` as given, the round's global
    /// model). Adam starts from `optimiser` and leaves its state there when the recipe keeps it.
    /// `epochDone` follows each epoch of each trained network. Returns the mean loss of the last epoch.
    @discardableResult
    public func train(model: inout FederatedModel, epochs: Int, round: Int, completedRounds: Int? = nil,
                      teacher: FederatedModel? = nil, optimiser: inout OptimiserState,
                      epochDone: (EpochStats) -> Void = { _ in }) -> Float {
        // The patch is the tensor's (D, H, W) = the RAS grid's (i, j, k), as MONAI.
        let sampler = PatchSampler(size: patch, positiveFraction: recipe.positiveFraction, flipProbability: recipe.axisFlip,
                                   augmentation: recipe.augmentation)
        let position = completedRounds ?? max(0, round - 1)
        var last: Float = 0
        switch model.strategy {
        case .single:
            let net = model.network()
            let classes = model.organs.count + 1, annotated = organs.map(\.rawValue)
            var objective = SiteObjective(supervised: .marginal(classes: classes, annotated: annotated))
            var teacherNet: UNet?
            switch recipe.distillation {
            case .soft:
                objective.distillation = ConditionalDistillation(classes: classes, annotated: annotated, temperature: recipe.temperature)
                objective.distillationWeight = recipe.distillationWeight(completedRounds: position)
                teacherNet = (teacher ?? model).network()
            case .hard where position > 0:  // the first round's teacher is untrained
                objective.supervised = DiceCELoss()
                teacherNet = (teacher ?? model).network()
            case .hard, .none:
                break
            }
            if recipe.exclusionWeight > 0 {
                objective.exclusion = ExclusionLoss(classes: classes, annotated: annotated)
                objective.exclusionWeight = recipe.exclusionWeight
            }
            last = run(net: net, key: OptimiserState.singleKey, objective: objective, teacher: teacherNet,
                       hard: recipe.distillation == .hard, sampler: sampler, epochs: epochs, round: round, position: position,
                       relabel: nil, optimiser: &optimiser, epochDone: epochDone)
            model.absorb(net)
        case .heads:
            for organ in organs {
                let net = model.network(organ: organ.description)
                last = run(net: net, key: organ.description, objective: SiteObjective(supervised: DiceCELoss()), teacher: nil,
                           hard: false, sampler: sampler, epochs: epochs, round: round, position: position,
                           relabel: Float(organ.rawValue), optimiser: &optimiser, epochDone: epochDone)
                model.absorb(net, organ: organ.description)
            }
        }
        return last
    }

    /// ``train(model:epochs:round:completedRounds:teacher:optimiser:epochDone:)`` with a fresh optimiser.
    @discardableResult
    public func train(model: inout FederatedModel, epochs: Int, round: Int) -> Float {
        var fresh = OptimiserState()
        return train(model: &model, epochs: epochs, round: round, optimiser: &fresh)
    }

    private func run(net: UNet, key: String, objective: SiteObjective, teacher: UNet?, hard: Bool, sampler: PatchSampler,
                     epochs: Int, round: Int, position: Int, relabel: Float?, optimiser: inout OptimiserState,
                     epochDone: (EpochStats) -> Void) -> Float {
        if let settings = privacy {
            return runPrivate(net: net, key: key, objective: objective, teacher: teacher, hard: hard, sampler: sampler,
                              epochs: epochs, round: round, position: position, relabel: relabel, optimiser: &optimiser,
                              settings: settings, epochDone: epochDone).loss
        }
        let adam = Adam(net.parameters, learningRate: recipe.learningRate)
        if recipe.keepOptimiserState, let s = optimiser.networks[key], s.m.count == net.parameters.count { adam.load(s) }
        let stepsPerRound = epochs * set.items.count
        var step = 0
        var mean: Float = 0
        for e in 0..<epochs {
            var total: Float = 0, norms: Float = 0, largest: Float = 0, count = 0
            set.forEachBatch(round * 10_000 + e, sampler: sampler, patchesPerVolume: patchesPerVolume, seed: seed) { b in
                adam.learningRate = recipe.learningRate(completedRounds: position, step: step, stepsPerRound: stepsPerRound)
                let (labels, teacherLogits) = targets(input: b.input, labels: b.labels, relabel: relabel, teacher: teacher, hard: hard)
                let (l, norm) = net.trainStep(input: b.input, labels: labels, objective: objective, teacher: teacherLogits,
                                              optimizer: adam, maxGradientNorm: recipe.gradientClipNorm)
                total += l; norms += norm; largest = max(largest, norm); count += 1; step += 1
            }
            mean = total / Float(max(count, 1))
            epochDone(EpochStats(epoch: e, meanLoss: mean, meanGradientNorm: norms / Float(max(count, 1)),
                                 maxGradientNorm: largest, learningRate: adam.learningRate))
        }
        if recipe.keepOptimiserState { optimiser.networks[key] = adam.state }
        return mean
    }

    /// What one batch trains on: the site's labels (as a binary mask of `relabel` for a head), replaced by hard
    /// pseudo-labels from `teacher` (`hard`) or paired with the teacher's logits for soft distillation.
    func targets(input: Tensor, labels: Tensor, relabel: Float?, teacher: UNet?, hard: Bool) -> (labels: Tensor, teacherLogits: Tensor?) {
        var labels = labels
        if let target = relabel {
            labels = Tensor(shape: labels.shape, scalars: labels.scalars.map { $0 == target ? 1 : 0 })
        }
        guard let teacher else { return (labels, nil) }
        if hard { return (Self.distilled(labels: labels, teacher: teacher.predictLabels(input), annotated: organs), nil) }
        return (labels, teacher.predict(input))
    }

    /// Hard distillation's labels: the site's labels with the teacher's predicted organs filled in where the site
    /// says background and the teacher predicts an organ the site does not annotate.
    public static func distilled(labels: Tensor, teacher: Tensor, annotated: [Organ]) -> Tensor {
        let keep = Set(annotated.map { Float($0.rawValue) })
        var y = labels.scalars
        let t = teacher.scalars
        for n in y.indices where y[n] == 0 && t[n] != 0 && !keep.contains(t[n]) { y[n] = t[n] }
        return Tensor(shape: labels.shape, scalars: y)
    }
}
