import ArgumentParser
import NN

/// `segviz privacy epsilon`: the (epsilon, delta) of T steps of the Poisson-subsampled Gaussian mechanism, or the
/// noise multiplier that reaches a target epsilon.
struct PrivacyEpsilon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epsilon",
        abstract: "Epsilon of T steps of DP-SGD (Poisson sampling at rate q, Gaussian noise z times the clip norm).",
        discussion: """
            Rényi-DP accounting (Mironov, Talwar, Zhang 2019) over dp_accounting's standard orders, converted to \
            (epsilon, delta) with the conversion of Canonne, Kamath, Steinke 2020. With --target-epsilon instead of \
            --noise-multiplier, finds the smallest noise multiplier that stays within the target and prints it first. \
            The last line is epsilon=<x>.
            """)

    @Option(help: "Noise standard deviation divided by the clip norm (z).") var noiseMultiplier: Double?
    @Option(help: "Solve for the smallest noise multiplier whose epsilon is at most this.") var targetEpsilon: Double?
    @Option(help: "Probability that a patient takes part in a step (q).") var sampleRate: Double
    @Option(help: "Number of steps composed (T): local steps per round times rounds.") var steps: Int
    @Option(help: "Delta of the (epsilon, delta) guarantee.") var delta: Double

    func validate() throws {
        if (noiseMultiplier == nil) == (targetEpsilon == nil) {
            throw ValidationError("give exactly one of --noise-multiplier and --target-epsilon")
        }
    }

    func run() throws {
        try failing {
            let z: Double
            if let target = targetEpsilon {
                z = try PrivacyAccount.noiseMultiplier(targetEpsilon: target, sampleRate: sampleRate, steps: steps, delta: delta)
                print("noise_multiplier=\(z)")
            } else {
                z = noiseMultiplier ?? 0
            }
            let account = try PrivacyAccount().composing(SubsampledGaussian(sampleRate: sampleRate, noiseMultiplier: z), steps: steps)
            let (epsilon, order) = try account.epsilon(delta: delta)
            print("steps=\(steps) sample_rate=\(sampleRate) noise_multiplier=\(z) delta=\(delta) best_order=\(order)")
            print("epsilon=\(epsilon)")
        }
    }
}
