import Foundation
import GRDB

/// One round's record in the aggregator's ledger.
///
/// Records form a hash chain: `recordHash` = BLAKE2b-256 over the canonical encoding of every other field,
/// which includes `previousRecordHash`; the aggregator signs `recordHash` with its identity key.
public struct LedgerRecord: Codable, Equatable, Sendable {
    /// Round number, from 1.
    public var round: Int
    /// How the round ended.
    public var status: RoundStatus
    /// Why the round aborted, if it did.
    public var abortReason: String?
    /// Nodes that advertised keys this round (U1), sorted.
    public var participants: [String]
    /// Nodes whose masked input was aggregated (the survivors), sorted.
    public var survivors: [String]
    /// Dropped nodes and the protocol phase at which they dropped.
    public var dropouts: [String: String]
    /// Nodes whose mask secret key was reconstructed from shares (dropped after sharing), sorted.
    public var secretKeysRevealedFor: [String]
    /// Nodes whose self-mask seed was reconstructed (survivors), sorted.
    public var selfMasksRevealedFor: [String]
    /// Hex BLAKE2b-256 of the published global model file (empty when aborted).
    public var modelHash: String
    /// Hex hash of the model this round started from.
    public var previousModelHash: String
    /// Hex hash of the previous record (64 zeros for the first).
    public var previousRecordHash: String
    /// ISO-8601 time the round started.
    public var startedAt: String
    /// ISO-8601 time the round ended.
    public var finishedAt: String
    /// Hex hash of this record (filled by the ledger).
    public var recordHash: String
    /// Base64 Ed25519 signature of `recordHash`'s bytes by the aggregator (filled by the ledger).
    public var signature: String
    /// With model selection: what the round's summed held-out scores said about the model it started from
    /// (absent otherwise, so older records hash as before).
    public var validation: RoundValidation? = nil
    /// With model selection: the round of the best global model after this round (`global-best.safetensors`).
    public var bestModelRound: Int? = nil
    /// With `privacy`: the budget and the privacy attestations of the nodes whose updates are in this round's model
    /// (absent otherwise, so older records hash as before).
    public var privacy: RoundPrivacy? = nil
    /// On the record after which the federation stopped before its planned rounds without failing: why
    /// (``FederationStop``); absent otherwise.
    public var stop: FederationStop? = nil

    /// The canonical bytes hashed into `recordHash` (sorted-key JSON of every field but the hash and signature).
    public func canonicalBytes() throws -> [UInt8] {
        var copy = self
        copy.recordHash = ""
        copy.signature = ""
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return [UInt8](try enc.encode(copy))
    }
}

/// Result of checking the ledger.
public struct LedgerVerification: Sendable {
    /// Records read, in round order.
    public var records: [LedgerRecord]
    /// Problems found (empty when the chain and every signature verify).
    public var problems: [String]
    /// True when there are no problems.
    public var ok: Bool { problems.isEmpty }
}

/// The aggregator's append-only round ledger in SQLite (GRDB), hash-chained and signed.
///
/// Writes are transactions: a record is either fully stored or not at all, so a crash never leaves a
/// half-written round.
public final class Ledger: Sendable {
    /// Hash of "no previous record".
    public static let genesisHash = String(repeating: "0", count: 64)
    private let db: DatabaseQueue
    private let path: String

    /// How long an operation waits for another connection's lock before failing.
    public static let busyTimeoutSeconds: TimeInterval = 30

    /// Opens (creating if needed) the ledger at `path`.
    public init(path: String) throws {
        self.path = path
        do {
            // Another process reading the ledger (`segviz audit`, a test, a backup) holds SQLite's lock for a
            // moment: wait for it rather than failing to start or to record a round.
            var config = Configuration()
            config.busyMode = .timeout(Self.busyTimeoutSeconds)
            db = try DatabaseQueue(path: path, configuration: config)
            try db.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS rounds (
                      round INTEGER PRIMARY KEY,
                      record TEXT NOT NULL,
                      record_hash TEXT NOT NULL,
                      previous_record_hash TEXT NOT NULL,
                      model_hash TEXT NOT NULL,
                      status TEXT NOT NULL)
                    """)
            }
        } catch {
            throw FederationError.ledgerUnavailable(path: path, operation: .open, reason: "\(error)")
        }
    }

    /// All records in round order.
    public func records() throws -> [LedgerRecord] {
        do {
            let texts = try db.read { db in try String.fetchAll(db, sql: "SELECT record FROM rounds ORDER BY round") }
            return try texts.map { try JSONDecoder().decode(LedgerRecord.self, from: Data($0.utf8)) }
        } catch {
            throw FederationError.ledgerUnavailable(path: path, operation: .read, reason: "\(error)")
        }
    }

    /// The last record, if any.
    public func last() throws -> LedgerRecord? { try records().last }

    /// Completes `record` (previous hash, record hash, signature) and appends it; returns the stored record.
    /// - Throws: if a record for that round exists or the round does not follow the last one.
    @discardableResult
    public func append(_ record: LedgerRecord, signer: IdentityKey) throws -> LedgerRecord {
        var r = record
        do {
            return try db.write { db -> LedgerRecord in
                let lastRow = try Row.fetchOne(db, sql: "SELECT round, record_hash FROM rounds ORDER BY round DESC LIMIT 1")
                let lastRound: Int = lastRow?["round"] ?? 0
                let lastHash: String = lastRow?["record_hash"] ?? Ledger.genesisHash
                guard r.round == lastRound + 1 else {
                    throw FederationError.ledgerOutOfOrder(path: path, round: r.round, previous: lastRound)
                }
                r.previousRecordHash = lastHash
                let hash = FedCrypto.blake2b256(try r.canonicalBytes())
                r.recordHash = hex(hash)
                r.signature = Data(signer.sign(hash)).base64EncodedString()
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let text = String(decoding: try enc.encode(r), as: UTF8.self)
                try db.execute(sql: """
                    INSERT INTO rounds (round, record, record_hash, previous_record_hash, model_hash, status)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [r.round, text, r.recordHash, r.previousRecordHash, r.modelHash, r.status.rawValue])
                return r
            }
        } catch let e as FederationError {
            throw e
        } catch {
            throw FederationError.ledgerUnavailable(path: path, operation: .append(round: r.round), reason: "\(error)")
        }
    }

    /// Checks the hash chain and every signature against `aggregatorKey`.
    public func verify(aggregatorKey: Minisign.PublicKey) throws -> LedgerVerification {
        let recs = try records()
        var problems: [String] = []
        var prev = Ledger.genesisHash
        for (i, r) in recs.enumerated() {
            if r.round != i + 1 { problems.append("round \(r.round): expected round \(i + 1) (gap or reorder)") }
            if r.previousRecordHash != prev { problems.append("round \(r.round): previous-record hash breaks the chain") }
            let hash = FedCrypto.blake2b256(try r.canonicalBytes())
            if hex(hash) != r.recordHash { problems.append("round \(r.round): record hash does not match its contents") }
            if let sig = Data(base64Encoded: r.signature),
               FedCrypto.verify(signature: [UInt8](sig), message: hash, publicKey: aggregatorKey.key) {
            } else {
                problems.append("round \(r.round): signature does not verify against the aggregator key")
            }
            prev = r.recordHash
        }
        return LedgerVerification(records: recs, problems: problems)
    }
}
