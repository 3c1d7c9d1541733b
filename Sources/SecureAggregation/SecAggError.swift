/// Every failure of the SecureAggregation module. Cases name the problem; associated values say
/// which user, phase, parameter or length was at fault so that a log line is enough to act on.
public enum SecAggError: Error, Equatable, Sendable, CustomStringConvertible {
    // Primitives
    /// A key, nonce, seed, signature or field had the wrong number of bytes.
    case invalidLength(what: String, expected: Int, actual: Int)
    /// X25519 with a low-order public key (the shared secret would be all zeros).
    case keyAgreementFailed
    /// An AEAD ciphertext did not authenticate (wrong key, nonce, associated data or tampering).
    case decryptionFailed
    /// A signature did not verify against the roster key of `user`.
    case invalidSignature(user: UInt32, what: String)

    // Configuration and inputs
    /// A configuration parameter is unusable; `parameter` names what to change.
    case invalidConfiguration(parameter: String, reason: String)
    /// `clients` x `maxWeight` x `levels` would reach 2^`modulusBits`: the masked sum could wrap.
    /// The description says how far to lower `quantisation.levels` (and, in Z_2^32, that a 64-bit
    /// modulus would fit).
    case quantisationOverflow(clients: Int, maxWeight: UInt32, levels: UInt32, modulusBits: Int)
    /// User `user`'s update does not fit the configured layout or limits.
    case invalidUpdate(user: UInt32, problem: UpdateProblem)

    // Message decoding (context free)
    /// The bytes end before the message does.
    case truncated(message: String, needed: Int, available: Int)
    /// Bytes remain after a complete message, or a count exceeds its limit.
    case oversized(message: String, reason: String)
    case unsupportedVersion(UInt8)
    case unknownMessageType(UInt8)
    /// A field holds a value that cannot occur (unsorted or duplicate ids, bad share index, ...).
    case malformed(message: String, reason: String)

    // Message checks in protocol context
    case wrongRound(expected: UInt64, actual: UInt64)
    /// The transport's authenticated sender differs from the sender the message names, or a
    /// message is addressed to another user.
    case wrongSender(expected: UInt32, actual: UInt32)
    /// A second message of the same kind from the same sender in one round (replay).
    case duplicateMessage(sender: UInt32, message: String)
    /// The message does not belong to the receiver's current state.
    case unexpectedMessage(state: String, message: String)
    /// A user id that is not in the roster, or not expected in this phase.
    case unknownUser(UInt32)

    // Protocol failures
    /// Fewer than `needed` users remain in `phase`: the round aborts.
    case tooFewUsers(phase: String, remaining: Int, needed: Int)
    /// The server's survivor lists contradict each other or what this client saw.
    case inconsistentSurvivors(SurvivorProblem)
    /// Asked to reveal both the self-mask share and the key share of one user.
    case conflictingShareRequest(user: UInt32)
    /// A dropped user's secret key or a survivor's self-mask seed could not be rebuilt.
    case reconstructionFailed(user: UInt32, reason: String)
    /// A block has fewer than 2 contributors and the configuration does not allow disclosing it.
    case tooFewContributors(block: String, contributors: Int)
    /// The state machine of `party` (`client 3`, `server`) was used after it completed or aborted (`state`).
    case roundOver(party: String, state: String)
    /// Two users of the key list advertised the same public key (a re-advertised key would make
    /// pairwise masks cancel): the round aborts.
    case duplicateKey(first: UInt32, second: UInt32)
    /// The released weight sums would determine this user's weight (sample count).
    case weightDisclosed(user: UInt32)
    /// A reconstructed secret of `owner` did not match its commitment (self-mask seed) or its
    /// advertised key: the shares sent by `holders` are not on the owner's polynomial. The round
    /// aborts; `holders` is empty when the forger could not be singled out.
    case forgedShare(owner: UInt32, holders: [UInt32])
    /// An unmasked total is outside what the survivors can have produced.
    case implausibleTotal(block: String, reason: String)
    /// The configuration's bound application context differs from what this client expects.
    case contextMismatch(expected: String, actual: String)
    /// A consistency signature list names the same signer twice.
    case duplicateSignature(user: UInt32)

    public var description: String {
        switch self {
        case let .invalidLength(what, expected, actual): return "\(what): expected \(expected) bytes, got \(actual)"
        case .keyAgreementFailed: return "X25519 key agreement failed (low-order public key)"
        case .decryptionFailed: return "authenticated decryption failed"
        case let .invalidSignature(user, what): return "invalid signature by user \(user) on \(what)"
        case let .invalidConfiguration(parameter, reason): return "configuration parameter '\(parameter)': \(reason)"
        case let .quantisationOverflow(clients, maxWeight, levels, bits):
            let limit = Quantisation.maximumLevels(clients: clients, maxWeight: maxWeight, modulusBits: bits)
            return "quantisation could overflow 2^\(bits): clients (\(clients)) x quantisation.maxWeight (\(maxWeight)) x "
                + "quantisation.levels (\(levels)) must stay below 2^\(bits); lower quantisation.levels to at most \(limit) "
                + "or lower quantisation.maxWeight"
                + (bits == 32 ? " (or set quantisation.modulusBits to 64, doubling the mask keystream)" : "")
        case let .invalidUpdate(user, problem): return "invalid update of user \(user): \(problem)"
        case let .truncated(message, needed, available): return "\(message): truncated, needed \(needed) bytes, have \(available)"
        case let .oversized(message, reason): return "\(message): oversized: \(reason)"
        case let .unsupportedVersion(v):
            return "message of protocol version \(v); this build speaks version \(WireFormat.version) only: upgrade the older peer"
        case let .unknownMessageType(t): return "unknown message type \(t)"
        case let .malformed(message, reason): return "\(message): malformed: \(reason)"
        case let .wrongRound(expected, actual): return "message for round \(actual), expected round \(expected)"
        case let .wrongSender(expected, actual): return "message names user \(actual), expected \(expected)"
        case let .duplicateMessage(sender, message): return "duplicate \(message) from user \(sender) (replay)"
        case let .unexpectedMessage(state, message): return "\(message) not expected in state \(state)"
        case let .unknownUser(u): return "unknown or unexpected user \(u)"
        case let .tooFewUsers(phase, remaining, needed): return "aborted in \(phase): \(remaining) users remain, threshold is \(needed)"
        case let .inconsistentSurvivors(problem): return "inconsistent survivor set: \(problem)"
        case let .conflictingShareRequest(user): return "refused to reveal both share kinds of user \(user)"
        case let .reconstructionFailed(user, reason): return "could not reconstruct secret of user \(user): \(reason)"
        case let .tooFewContributors(block, n): return "block '\(block)' has \(n) contributor(s), below the minimum: refusing to disclose it (set allowSmallBlocks to permit one)"
        case let .roundOver(party, state): return "round is over: \(party) is \(state)"
        case let .duplicateKey(a, b): return "users \(a) and \(b) advertised the same public key: refusing the key list"
        case let .weightDisclosed(u): return "the weight sums would disclose the sample count of user \(u): refusing to release them"
        case let .forgedShare(owner, holders):
            return holders.isEmpty ? "the shares of user \(owner)'s secret do not match its commitment (forger not identifiable)"
                : "forged share(s) of user \(owner)'s secret sent by user(s) \(holders.map(String.init).joined(separator: ", "))"
        case let .implausibleTotal(block, reason): return "unmasked total of '\(block)' is impossible: \(reason)"
        case let .contextMismatch(expected, actual): return "bound context \(actual) differs from the expected \(expected)"
        case let .duplicateSignature(u): return "consistency signatures name user \(u) more than once"
        }
    }
}

/// What is wrong with a client's update (``SecAggError/invalidUpdate(user:problem:)``).
public enum UpdateProblem: Equatable, Sendable, CustomStringConvertible {
    /// `count` values where the layout has `expected`.
    case valueCount(Int, expected: Int)
    /// `count` block weights where the layout has `expected` blocks.
    case blockWeightCount(Int, expected: Int)
    /// A weight that is non-zero where the signed block map says the user does not contribute, or zero where it does.
    case weightContradictsBlockMap(block: String, weight: UInt32, contributes: Bool)
    /// A weight above `quantisation.maxWeight`.
    case weightAboveMaximum(block: String, weight: UInt32, maximum: UInt32)
    /// A weight that differs from the user's first non-zero weight (one weight per node per round).
    case unequalWeights(block: String, weight: UInt32, first: UInt32)
    /// A NaN value, at this index.
    case notANumber(index: Int)

    public var description: String {
        switch self {
        case let .valueCount(n, e): return "\(n) values, the layout has \(e)"
        case let .blockWeightCount(n, e): return "\(n) block weights, the layout has \(e) blocks"
        case let .weightContradictsBlockMap(block, w, contributes):
            return "weight \(w) of block '\(block)' contradicts the block map (the user " + (contributes ? "contributes)" : "does not contribute)")
        case let .weightAboveMaximum(block, w, m): return "weight \(w) of block '\(block)' exceeds quantisation.maxWeight \(m)"
        case let .unequalWeights(block, w, first): return "weight \(w) of block '\(block)' differs from \(first): one weight per node per round"
        case let .notANumber(i): return "value \(i) is NaN"
        }
    }
}

/// How the server's survivor lists contradict what a client saw (``SecAggError/inconsistentSurvivors(_:)``).
public enum SurvivorProblem: Equatable, Sendable, CustomStringConvertible {
    /// The key list lacks this client's own advertisement.
    case ownAdvertisementMissing
    /// This client's masked input is not in U3.
    case ownInputMissing
    /// `user` is in U3 but its shares never reached `receiver`.
    case sharesNeverReceived(user: UInt32, receiver: UInt32)
    /// A consistency signature from `user`, who is not in U3.
    case signerNotInU3(user: UInt32)

    public var description: String {
        switch self {
        case .ownAdvertisementMissing: return "the key list lacks this user's own advertisement"
        case .ownInputMissing: return "this user's masked input is not in U3"
        case let .sharesNeverReceived(u, r): return "user \(u) is in U3 but its shares never reached user \(r)"
        case let .signerNotInU3(u): return "signature from user \(u), who is not in U3"
        }
    }
}
