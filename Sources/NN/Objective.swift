import Tensor

/// A site's local training loss: the marginal Dice-CE on its own labels (``DiceCELoss``), plus optionally
/// ConDistFL's ``ConditionalDistillation`` from a teacher's logits and Shi et al.'s ``ExclusionLoss``, each with
/// its weight:
///
///     L = DiceCE + distillationWeight x ConDist(student, teacher) + exclusionWeight x Exclusion
///
/// Without a teacher the distillation term is absent.
public struct SiteObjective: Sendable {
    /// The supervised loss (marginal at a partially labelled site).
    public var supervised: DiceCELoss
    /// Conditional distillation, used when a teacher's logits are given.
    public var distillation: ConditionalDistillation?
    /// Weight of the distillation term.
    public var distillationWeight: Double
    /// The exclusion loss, if used.
    public var exclusion: ExclusionLoss?
    /// Weight of the exclusion term.
    public var exclusionWeight: Double

    /// An objective; the defaults are the supervised loss alone.
    public init(supervised: DiceCELoss, distillation: ConditionalDistillation? = nil, distillationWeight: Double = 0,
                exclusion: ExclusionLoss? = nil, exclusionWeight: Double = 0) {
        self.supervised = supervised
        self.distillation = distillation
        self.distillationWeight = distillationWeight
        self.exclusion = exclusion
        self.exclusionWeight = exclusionWeight
    }

    /// The loss and its gradient with respect to the logits (`teacher`: the teacher's logits, same shape).
    public func callAsFunction(logits: Tensor, labels: Tensor, teacher: Tensor? = nil) -> (loss: Float, gradient: Tensor) {
        let idx = supervised.labelIndices(labels, logits: logits.shape)
        let (l, g) = compute(Activation(logits), labels: idx, teacher: teacher.map { Activation($0) })
        return (Float(l), g.tensor)
    }

    func compute(_ z: Activation, labels: [Int32], teacher: Activation?) -> (Double, Activation) {
        let (supervisedLoss, grad) = supervised.compute(z, labels: labels)
        var loss = supervisedLoss
        if let distillation, let teacher, distillationWeight > 0 {
            loss += distillationWeight * distillation.accumulate(student: z, teacher: teacher, labels: labels,
                                                                 weight: distillationWeight, into: grad)
        }
        if let exclusion, exclusionWeight > 0 {
            loss += exclusionWeight * exclusion.accumulate(z, labels: labels, weight: exclusionWeight, into: grad)
        }
        return (loss, grad)
    }
}
