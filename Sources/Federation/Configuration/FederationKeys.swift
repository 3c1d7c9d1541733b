// The federation file's public keys, parsed once where they are used, each failure naming its field.

extension FederationFile {
    /// The aggregator's key (`aggregator.publicKey`); one that does not parse is refused naming that field.
    public func aggregatorKey() throws(FederationError) -> Minisign.PublicKey {
        do throws(Minisign.FormatError) { return try Minisign.PublicKey(text: aggregator.publicKey) } catch {
            throw .invalidKeyField(field: "aggregator.publicKey", problem: error)
        }
    }

    /// The key of the node at `index` of `nodes` (`nodes.INDEX.publicKey`), named like the aggregator's.
    public func nodeKey(_ index: Int) throws(FederationError) -> Minisign.PublicKey {
        do throws(Minisign.FormatError) { return try Minisign.PublicKey(text: nodes[index].publicKey) } catch {
            throw .invalidKeyField(field: "nodes.\(index).publicKey", problem: error)
        }
    }
}
