import SecureAggregation

/// One secure-aggregation round run in memory: every site's ``SecAggClient`` and the aggregator's
/// ``SecAggServer`` (the state machines of a live federation) exchange their messages as encoded bytes, each
/// through the public decoders, with no network and no dropouts. Any refused or malformed message throws,
/// naming the round and the party; nothing here can stop the process.
struct InProcessSecureRound {
    let config: SecAggConfig

    /// The server's result once it completes with every site; throws ``ExperimentError/secureRound(round:problem:)``
    /// when a party refuses a message or the server aborts.
    func run(identities: [Identity.SigningKey], updates: [ClientUpdate]) throws -> AggregateResult {
        let round = Int(config.round)
        func fail(_ problem: String) -> ExperimentError { .secureRound(round: round, problem: problem) }
        var server = SecAggServer(config: config)
        var clients: [SecAggClient] = []
        var toServer: [(UInt32, [UInt8])] = []
        for (i, update) in updates.enumerated() {
            do {
                let (client, advertisement) = try SecAggClient.start(config: config, id: UInt32(i), identity: identities[i],
                                                                     update: update, random: SystemRandom())
                clients.append(client)
                toServer.append((UInt32(i), advertisement.encode()))
            } catch {
                throw fail("client \(i) start: \(error)")
            }
        }
        // Each pass delivers one phase's messages; a round has five phases, so more passes mean a stuck protocol.
        for _ in 0 ..< 16 {
            var toClients: [Outgoing] = []
            for (u, bytes) in toServer {
                do { toClients += try server.receive(bytes: bytes, from: u) } catch {
                    throw fail("the server refused client \(u)'s message: \(error)")
                }
            }
            toServer = []
            if toClients.isEmpty {
                if let result = server.result { return result }
                if let reason = server.abortReason { throw fail(reason) }
                toClients = server.closePhase()
            }
            for o in toClients {
                let u = Int(o.recipient)
                guard u < clients.count else { throw fail("the server addressed unknown client \(u)") }
                do {
                    for reply in try clients[u].receive(bytes: o.message.encode()) { toServer.append((o.recipient, reply)) }
                } catch {
                    throw fail("client \(u) refused the server's message: \(error)")
                }
            }
        }
        throw fail("the protocol did not finish after 16 exchanges (server in \(server.state.name))")
    }
}
