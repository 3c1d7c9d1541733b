// SecureAggregation: Bonawitz et al. (CCS 2017) secure aggregation with the SecAgg+ (Bell et al.,
// CCS 2020) neighbourhood option, over libsodium. Pure logic: no I/O, no clock; every random byte
// comes from an injected `RandomSource`.
//
// Protocol (one round; U1 ⊇ U2 ⊇ U3 ⊇ U4 ⊇ U5, each at least the threshold t):
//   0 AdvertiseKeys     client: two X25519 key pairs (c_u for share encryption, s_u for masks),
//                       signed with its roster Ed25519 key over (config digest, id, keys).
//                       server: verifies, forwards the list U1 (KeyListMessage).
//   1 ShareKeys         client: verifies its neighbours' advertisements; session id =
//                       BLAKE2b(config digest, every advertised key); draws b_u; Shamir-shares b_u
//                       and s_u^SK (32 bytes each, GF(2^8), t-of-holders) and seals each holder's
//                       pair with XChaCha20-Poly1305 under KDF(X25519(c_u, c_v)), associated data
//                       = (round, sender, receiver, session). server: relays (ShareBundleMessage).
//   2 MaskedInput       client: y_u = w·q(x_u) + PRG(b_u) + Σ_{v in U2 ∩ N(u)} ±PRG(s_uv) mod 2^32
//                       (or mod 2^64 with quantisation.modulusBits = 64, for sums that overflow 32 bits),
//                       PRG = ChaCha20-IETF keystream (zero nonce) of a key from
//                       KDF(secret, label, session); + if u > v. Server sums as inputs arrive.
//   3 ConsistencyCheck  server sends U3; each client signs (session, U3).
//   4 Unmasking         server sends the dropped list U2 \ U3 and the signatures; the client checks
//                       t of them over its own U3, refuses any dropped user that is in U3, then
//                       reveals b-shares of U3 members and s-shares of dropped users: never both.
//                       Server rebuilds b_v (v in U3) and s_v^SK (dropped; checked against the
//                       advertised key), removes the masks and dequantises.
//
// Masked vector layout: [parameters | one weight sum per block | one contributor count per block],
// so the server learns per-block weight sums and contributor counts only as sums. A block with one
// contributor is refused (round aborted, logged) unless `SecAggConfig.allowSmallBlocks`.
//
// Neighbourhoods (SecAgg+): `neighbours: k` draws a k-regular Harary graph on a permutation taken
// from the configuration digest (round, roster, public seed); masks, shares and the consistency
// signatures a client checks are then limited to its neighbourhood, and the threshold applies to
// each user's k + 1 holders. Limitation: the consistency check is per neighbourhood, as in SecAgg+;
// the complete-graph mode gives Bonawitz's global check.
//
// Public API the federation drives (all values, all Sendable where they hold no secrets):
//   SecAggConfig(round:roster:threshold:layout:quantisation:neighbours:publicSeed:allowSmallBlocks:)
//   VectorLayout(blocks: [Block(name:offset:count:)]), Quantisation(clip:levels:maxWeight:modulusBits:)
//   SecAggClient.start(config:id:identity:update:random:) -> (SecAggClient, ClientMessage)
//   SecAggClient.receive(_ ServerMessage) -> [ClientMessage]   (or receive(bytes:) -> [[UInt8]])
//   SecAggServer(config:), receive(_ ClientMessage, from:) -> [Outgoing], closePhase() -> [Outgoing],
//   result: AggregateResult? (weightedSums, blockWeights, blockContributors, weightedMean()),
//   abortReason, log.
//   Messages: ClientMessage / ServerMessage .encode() and .decode(_:), and each message type's
//   public static decode(_ bytes: [UInt8]) throws for fuzzing.
//   Primitives: Identity.SigningKey / PublicKey (Ed25519, Ed25519ph), KeyAgreement.PrivateKey /
//   PublicKey (X25519), BLAKE2b (one-shot and streaming), ChaCha20, AEAD, SecretBytes,
//   SecureRandom, SystemRandom, Shamir, KeyDerivation.
