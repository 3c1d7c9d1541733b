/// Who masks with whom and holds whose shares in one round. With SecAgg+ (`neighbours: k`) a
/// k-regular Harary graph on a random permutation of the roster; the permutation is drawn from
/// the session id, a hash of the configuration digest and of every signed advertisement of U1
/// (each user's fresh keys), so the aggregator cannot choose it: redrawing its own public seed
/// changes nothing it can predict, and each try of another U1 costs it users (see threat-model.md).
struct Neighbourhood: Sendable {
    /// Each user's holders (itself and its neighbours), sorted; nil for the complete graph.
    let lists: [[UInt32]]?
    let userCount: Int

    init(config: SecAggConfig, session: [UInt8]) {
        userCount = config.userCount
        guard let k = config.neighbours else {
            lists = nil
            return
        }
        // Finding 4's weakened form (tests only): the graph from the configuration alone.
        let seed = config.weakened.contains(.graphFromConfiguration) ? config.digest : session
        lists = NeighbourGraph.holders(users: config.userCount, degree: k, seed: seed)
    }

    /// The users holding shares of `user`'s secrets (itself included), sorted by id.
    func holders(of user: UInt32) -> [UInt32] {
        if let lists { return lists[Int(user)] }
        return (0 ..< UInt32(userCount)).map { $0 }
    }

    /// Whether `a` and `b` mask with each other and hold each other's shares.
    func areNeighbours(_ a: UInt32, _ b: UInt32) -> Bool {
        guard let lists else { return true }
        return lists[Int(a)].contains(b)
    }

    /// `holder`'s Shamir x-coordinate for shares of `owner`'s secrets (nil if not a holder).
    func shareX(owner: UInt32, holder: UInt32) -> UInt8? {
        guard let lists else { return UInt8(holder + 1) }
        guard let i = lists[Int(owner)].firstIndex(of: holder) else { return nil }
        return UInt8(i + 1)
    }
}

/// SecAgg+ neighbourhoods: a k-regular Harary graph on a permutation drawn from `seed`.
enum NeighbourGraph {
    static func holders(users n: Int, degree k: Int, seed: [UInt8]) -> [[UInt32]] {
        let key = BLAKE2b.hash(Array("segviz-secagg graph".utf8) + seed, length: .bytes32)
        var stream = DeterministicStream(key: key)
        // Fisher-Yates with rejection sampling (no modulo bias).
        var order = (0 ..< UInt32(n)).map { $0 }
        var i = n - 1
        while i > 0 {
            let bound = UInt32(i + 1)
            let limit = UInt32.max - UInt32.max % bound
            var r: UInt32
            repeat { r = stream.nextWord() } while r >= limit
            order.swapAt(i, Int(r % bound))
            i -= 1
        }
        var lists = [Set<UInt32>](repeating: [], count: n)
        for p in 0 ..< n {
            let u = order[p]
            lists[Int(u)].insert(u)
            for d in 1 ... k / 2 {
                lists[Int(u)].insert(order[(p + d) % n])
                lists[Int(u)].insert(order[(p - d + n) % n])
            }
            if k % 2 == 1 { lists[Int(u)].insert(order[(p + n / 2) % n]) }
        }
        return lists.map { $0.sorted() }
    }
}

/// A ChaCha20 stream of words from a public key (graph sampling).
struct DeterministicStream {
    let key: MaskKey
    var buffer = [UInt32](repeating: 0, count: MaskExpander.chunkWords)
    var position = MaskExpander.chunkWords
    var chunk = 0

    init(key: [UInt8]) { self.key = MaskKey(secret: SecretBytes(key)) }

    mutating func nextWord() -> UInt32 {
        if position == buffer.count {
            let (k, c) = (key, chunk)
            buffer.withUnsafeMutableBufferPointer { MaskExpander.words(key: k, chunk: c, count: $0.count, into: $0.baseAddress!) }
            chunk += 1
            position = 0
        }
        position += 1
        return buffer[position - 1]
    }
}

extension SecAggConfig {
    /// The holders of `user`'s shares (itself and its neighbours, sorted) in the round whose
    /// session id is `session` (every user, without neighbourhoods).
    public func holders(of user: UInt32, session: [UInt8]) -> [UInt32] {
        Neighbourhood(config: self, session: session).holders(of: user)
    }
}
