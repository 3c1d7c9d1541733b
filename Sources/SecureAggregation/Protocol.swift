/// The phases of one round, shared by the client and server state machines (and the federation
/// layer's status and logs): one name for each.
public enum ProtocolPhase: String, Sendable, CaseIterable {
    case advertiseKeys = "AdvertiseKeys"
    case shareKeys = "ShareKeys"
    case maskedInput = "MaskedInput"
    case consistencyCheck = "ConsistencyCheck"
    case unmasking = "Unmasking"
    case completed = "Completed"
    case aborted = "Aborted"
}

/// How many of the users holding a secret's shares may collude with the server.
///
/// Bonawitz et al. (CCS 2017, section 6): against the server alone a threshold above half the
/// holders suffices; if holders may collude with the server, one colluder can sign both halves of
/// a split survivor list, so the threshold must be at least floor(2h/3) + 1 (h holders).
public enum CollusionTolerance: String, Codable, Sendable, CaseIterable {
    /// The default: clients may collude with the server; threshold >= floor(2h/3) + 1.
    case colludingClients
    /// An explicit, documented weaker choice: only an honest-but-curious or lone malicious server
    /// is tolerated; threshold > h/2.
    case none

    /// The smallest threshold this tolerance accepts for `holders` share holders.
    public func minimumThreshold(holders h: Int) -> Int {
        switch self {
        case .colludingClients: return 2 * h / 3 + 1
        case .none: return h / 2 + 1
        }
    }
}

/// Checks that the module's tests can switch off, one at a time, to show that each attack test
/// fails without its defence (reachable only through `@testable import`; never set in production).
enum Weakening: Hashable, Sendable {
    /// Finding 1: pairwise keys without the user ids, and duplicated keys accepted by clients.
    case pairwiseBinding
    /// Finding 2: clients reveal shares, and the server unmasks, whatever the block contributors.
    case blockMinimum
    /// Finding 4: the neighbour graph drawn from the configuration (the server's public seed).
    case graphFromConfiguration
    /// Finding 5: weight sums released even when they determine a node's sample count.
    case weightDisclosure
    /// Finding 6: reconstructed seeds not checked against their commitments (first t shares used).
    case seedCommitment
    /// Finding 7: consistency signatures counted without removing duplicate signers.
    case signerDeduplication
    /// The bounds on unmasked totals (the second line behind finding 6).
    case totalBounds
}
