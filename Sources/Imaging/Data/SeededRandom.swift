import NN

/// Imaging's name for SegViz's one seeded generator (``NN/SplitMix64``): preprocessing, patch sampling,
/// augmentation and phantom generation draw from it, so every random choice is reproducible from a seed.
public typealias SeededRandom = SplitMix64
