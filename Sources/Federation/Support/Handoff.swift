/// Carries a value its owner holds exclusively (a protocol state machine) to the compute pool and back.
///
/// No lock: it is a hand-off, not sharing. The owner does not touch its copy while the pool works on the
/// moved one (the coordinator's gate, or the node's sequential loop, guarantees it) and replaces its copy with
/// the one that comes back.
struct Handoff<T>: @unchecked Sendable {
    /// The value being moved.
    var value: T
    init(_ value: T) { self.value = value }
}
