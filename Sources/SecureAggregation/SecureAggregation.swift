// SecureAggregation: Bonawitz et al. (CCS 2017) secure aggregation with the SecAgg+ (Bell et al.,
// CCS 2020) neighbourhood option, over libsodium. Pure logic: no I/O, no clock; every random byte
// comes from an injected `RandomSource`.
//
// Protocol version 2 (one round; U1 ⊇ U2 ⊇ U3 ⊇ U4 ⊇ U5, each at least the threshold t, by default
// floor(2h/3) + 1 of h holders so that nodes colluding with the server cannot sign two survivor lists;
// a weaker t needs `collusionTolerance: .none`). Every message starts with the version byte; the
// configuration digest (signed into everything) holds it, the signed block map and the bound context.
//   0 AdvertiseKeys     client: checks the bound context; two X25519 key pairs (c_u, s_u) and the
//                       self-mask seed b_u; signs (config digest, id, keys, commitment to b_u) with
//                       its roster Ed25519 key. server: verifies, refuses duplicated keys, forwards U1.
//   1 ShareKeys         client: verifies every advertisement, refuses any duplicated key; session id =
//                       BLAKE2b(config digest, every advertised key and commitment); SecAgg+ graph
//                       drawn from the session; Shamir-shares b_u and s_u^SK (32 bytes, GF(2^8)) and
//                       seals each holder's pair with XChaCha20-Poly1305 under KDF(X25519(c_u, c_v),
//                       both ids in canonical order). server: relays.
//   2 MaskedInput       client: y_u = w·q(x_u) + PRG(b_u) + Σ_{v in U2 ∩ N(u)} ±PRG(s_uv) mod 2^32
//                       (or 2^64), s_uv from KDF(X25519(s_u, s_v), both ids); + if u > v.
//   3 ConsistencyCheck  server sends U3 (after checking the contributor rules over it); each client
//                       signs (session, U3).
//   4 Unmasking         the client checks t distinct valid signers on its U3, refuses a dropped user
//                       in U3, and, from the signed block map and U3, that every block keeps the
//                       minimum of contributors and that no weight follows from the released sums;
//                       then reveals b-shares of U3 and s-shares of dropped users: never both. The
//                       server checks every rebuilt seed against its commitment (and every dropped
//                       key against its advertisement) using all shares, names forgers and aborts;
//                       removes the masks; checks the totals' bounds; dequantises.
//
// Masked vector layout: [parameters | per contribution group: weight sum | contributor count]; a
// contribution group is the set of blocks with the same contributors in the block map; every node
// sends one weight per round. See threat-model.md, "What the aggregator learns".
//
// Neighbourhoods (SecAgg+): `neighbours: k` draws a k-regular Harary graph on a permutation taken
// from the session id; masks, shares and the consistency signatures a client checks are then
// limited to its neighbourhood, and the threshold applies to each user's k + 1 holders.
//
// Public API the federation drives (all values, all Sendable where they hold no secrets):
//   SecAggConfig(round:roster:threshold:layout:quantisation:neighbours:publicSeed:allowSmallBlocks:
//                blockMap:collusionTolerance:boundContext:), ProtocolPhase, CollusionTolerance
//   VectorLayout(blocks: [Block(name:offset:count:)]), Quantisation(clip:levels:maxWeight:modulusBits:)
//   SecAggClient.start(config:id:identity:update:random:expectedContext:) -> (SecAggClient, ClientMessage)
//   SecAggClient.receive(_ ServerMessage) -> [ClientMessage]   (or receive(bytes:) -> [[UInt8]])
//   SecAggServer(config:), receive(_ ClientMessage, from:) -> [Outgoing], closePhase() -> [Outgoing],
//   result: AggregateResult? (weightedSums, blockWeights, blockContributors, weightedMean()),
//   abortReason, log.
//   Messages: ClientMessage / ServerMessage .encode() and .decode(_:), and each message type's
//   public static decode(_ bytes: [UInt8]) throws for fuzzing.
//   Primitives: Identity.SigningKey / PublicKey (Ed25519, Ed25519ph), KeyAgreement.PrivateKey /
//   PublicKey (X25519), BLAKE2b (one-shot and streaming), ChaCha20, AEAD, SecretBytes,
//   SecureRandom, SystemRandom, Shamir, KeyDerivation.
