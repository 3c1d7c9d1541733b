import Testing
@testable import Federation
import SecureAggregation

/// The federation layer's phases come from the protocol's `ProtocolPhase`, and the strings on the wire,
/// in the ledger and on the command line stay the ones written here (an independent list, not the code's).
@Suite struct PhaseNamingTests {
    @Test func roundPhasesMapOneToOneAndKeepTheirWireStrings() {
        let expected: [(ProtocolPhase, String?)] = [
            (.advertiseKeys, "AdvertiseKeys"), (.shareKeys, "ShareKeys"), (.maskedInput, "MaskedInput"),
            (.consistencyCheck, "ConsistencyCheck"), (.unmasking, "Unmasking"), (.completed, nil), (.aborted, nil),
        ]
        #expect(expected.map(\.0) == ProtocolPhase.allCases)
        for (p, wire) in expected {
            #expect(RoundPhase(p)?.rawValue == wire, "\(p)")
            if let wire { #expect(p.rawValue == wire) }
        }
        #expect(RoundPhase.finished.rawValue == "Finished")
    }

    @Test func nodePhaseNamesParseBackAndRejectOthers() {
        let names = ["Training", "AdvertiseKeys", "ShareKeys", "MaskedInput", "ConsistencyCheck", "Unmasking", "Completed", "Aborted"]
        #expect(NodePhase.allCases.map(\.name) == names)
        for n in names { #expect(NodePhase(name: n)?.name == n) }
        #expect(NodePhase(name: "MaskedInput") == .secureAggregation(.maskedInput))
        #expect(NodePhase(name: "Training") == .training)
        for bad in ["maskedinput", "Masked Input", "", "Finished", "training"] { #expect(NodePhase(name: bad) == nil, "\(bad)") }
    }
}
