import Foundation
import Testing
@testable import Federation

/// The round context bound into each round's signed configuration, and the trusted comment nodes read the
/// model round from.
@Suite struct RoundContextTests {
    @Test func everyFieldChangesTheBinding() {
        let base = RoundContext(federation: "f", fingerprint: [UInt8](repeating: 1, count: 32), round: 3, modelRound: 2, modelHash: [UInt8](repeating: 7, count: 32))
        var changed = [base, base, base, base, base]
        changed[0].federation = "g"
        changed[1].round = 4
        changed[2].modelRound = 1
        changed[3].modelHash[31] ^= 1
        changed[4].federationFingerprint[0] ^= 1
        let bindings = Set(([base] + changed).map(\.binding))
        #expect(bindings.count == 6)
        #expect(base.binding.count == 32)
        // Length-prefixed fields: moving a character between federation name and nothing else still differs.
        #expect(RoundContext(federation: "f1", fingerprint: base.federationFingerprint, round: 3, modelRound: 2, modelHash: base.modelHash).binding != base.binding)
    }

    @Test func trustedCommentsRoundTripAndJunkIsRefused() {
        let h = String(repeating: "ab", count: 32)
        let c = RoundContext.trustedComment(modelRound: 12, hashHex: h)
        #expect(RoundContext.parseTrustedComment(c)?.modelRound == 12)
        #expect(RoundContext.parseTrustedComment(c)?.hashHex == h)
        for junk in ["", "segviz global model round=-1 file_blake2b256=\(h)", "segviz global model round=1e3 file_blake2b256=\(h)",
                     "segviz global model round=99999999999999999999 file_blake2b256=\(h)", "segviz global model round=1 file_blake2b256=ab",
                     "other global model round=1 file_blake2b256=\(h)", c + " extra"] {
            #expect(RoundContext.parseTrustedComment(junk) == nil, "\(junk)")
        }
    }
}
