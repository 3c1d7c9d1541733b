import Tensor

extension UNet {
    /// One training step: zero gradients, forward in training mode, `loss`, backward, one
    /// `optimizer` step. Returns the loss before the update.
    /// - Parameters: `input` `N x inChannels x D x H x W`; `labels` `N x 1 x D x H x W` class indices.
    @discardableResult
    public func trainStep(input: Tensor, labels: Tensor, loss: DiceCELoss = DiceCELoss(), optimizer: Adam) -> Float {
        parameters.zeroGradients()
        let l = lossAndGradients(input: input, labels: labels, loss: loss)
        optimizer.step()
        return l
    }

    /// Forward (training mode), loss and backward without an optimiser step: the gradients are
    /// left in ``parameters`` (added to what is there). Returns the loss.
    @discardableResult
    public func lossAndGradients(input: Tensor, labels: Tensor, loss: DiceCELoss = DiceCELoss()) -> Float {
        let x = Activation(validated(input))
        let idx = loss.labelIndices(labels, logits: [x.n, config.outChannels, x.d, x.h, x.w])
        let logits = forwardActivation(x, training: true)
        let (l, g) = Context(store: parameters, training: true, profiler: profiler).timed("loss") {
            loss.compute(logits, labels: idx)
        }
        backwardActivation(g)
        return Float(l)
    }

    /// One training step of a site's ``SiteObjective``: zero gradients, forward in training mode, the objective
    /// (with `teacher`'s logits for the distillation term), backward, gradient-norm clipping to `maxGradientNorm`
    /// (none when nil), one `optimizer` step. Returns the loss before the update and the gradient norm before
    /// clipping.
    @discardableResult
    public func trainStep(input: Tensor, labels: Tensor, objective: SiteObjective, teacher: Tensor? = nil,
                          optimizer: Adam, maxGradientNorm: Float? = nil) -> (loss: Float, gradientNorm: Float) {
        parameters.zeroGradients()
        let l = lossAndGradients(input: input, labels: labels, objective: objective, teacher: teacher)
        let norm = parameters.clipGradientNorm(maxGradientNorm)
        optimizer.step()
        return (l, norm)
    }

    /// Forward (training mode), the ``SiteObjective`` (with `teacher`'s logits for the distillation term) and
    /// backward, without an optimiser step: the gradients are added to what ``parameters`` holds (DP-SGD sums a
    /// patient's batches this way). Returns the loss.
    @discardableResult
    public func lossAndGradients(input: Tensor, labels: Tensor, objective: SiteObjective, teacher: Tensor? = nil) -> Float {
        let x = Activation(validated(input))
        let idx = objective.supervised.labelIndices(labels, logits: [x.n, config.outChannels, x.d, x.h, x.w])
        let t = teacher.map { tensor -> Activation in
            precondition(tensor.shape == [x.n, config.outChannels, x.d, x.h, x.w],
                         "UNet.trainStep: teacher logits \(tensor.shape) do not match the student's")
            return Activation(tensor)
        }
        let logits = forwardActivation(x, training: true)
        let (l, g) = Context(store: parameters, training: true, profiler: profiler).timed("loss") {
            objective.compute(logits, labels: idx, teacher: t)
        }
        backwardActivation(g)
        return Float(l)
    }

    /// Eval-mode logits for a batch of patches (`N x inChannels x D x H x W`).
    public func predict(_ input: Tensor) -> Tensor { forward(input, training: false) }

    /// Eval-mode class map (`N x 1 x D x H x W`, argmax over classes, as Float class indices).
    public func predictLabels(_ input: Tensor) -> Tensor {
        let z = forwardActivation(Activation(validated(input)), training: false)
        let k = z.c, v = z.spatial
        var out = [Float](repeating: 0, count: z.n * v)
        for n in 0..<z.n {
            let base = z.pointer + n * k * v
            for i in 0..<v {
                var best = 0
                for c in 1..<max(k, 1) where base[c * v + i] > base[best * v + i] { best = c }
                out[n * v + i] = Float(best)
            }
        }
        return Tensor(shape: [z.n, 1, z.d, z.h, z.w], scalars: out)
    }
}
