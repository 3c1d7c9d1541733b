import Foundation
import Testing
@testable import Experiment

/// The issue-18 gates computed from the table: the recipe against centralised training (within 0.02) and the
/// recipe's secure run against its plain run (within 0.01). Oracle: hand-made rows with known means.
@Suite struct RecipeClaimsTests {
    static func row(_ name: String, _ organ: String, _ mean: Double) -> TableRow {
        TableRow(name: name, title: name, organ: organ, dice: Spread(mean: mean, sdCases: 0, sdSeeds: nil, count: 1),
                 hd95: nil, hd95Missing: 0, diceByRound: [mean])
    }

    static func claims(_ values: [String: (liver: Double, spleen: Double)]) -> Claims {
        let rows = values.flatMap { name, v in [row(name, "liver", v.liver), row(name, "spleen", v.spleen)] }
        return Summary.claims(table: rows, runs: [])
    }

    @Test func theRecipeIsComparedWithCentralisedAndItsSecureRun() throws {
        let c = Self.claims(["centralised": (0.95, 0.90), "recipe": (0.94, 0.85), "recipe-secure": (0.945, 0.835)])
        let vsCentralised = try #require(c.recipeMinusCentralisedDice)
        #expect(abs(try #require(vsCentralised["liver"]) - (-0.01)) < 1e-12)
        #expect(abs(try #require(vsCentralised["spleen"]) - (-0.05)) < 1e-12)
        #expect(c.recipeWithin002OfCentralised == false)  // the spleen is 0.05 below
        let securePlain = try #require(c.recipeSecureMinusPlainDice)
        #expect(abs(try #require(securePlain["spleen"]) - (-0.015)) < 1e-12)
        #expect(c.recipeSecureWithin001OfPlain == false)  // the spleen differs by 0.015
    }

    @Test func theGatesHoldWhenEveryOrganIsWithinItsMargin() {
        // Above centralised counts as within; a secure run above or below its plain run by 0.005 is within.
        let c = Self.claims(["centralised": (0.95, 0.90), "recipe": (0.935, 0.91), "recipe-secure": (0.94, 0.905)])
        #expect(c.recipeWithin002OfCentralised == true)
        #expect(c.recipeSecureWithin001OfPlain == true)
    }

    @Test func withoutCentralisedThereIsNoVerdict() {
        let c = Self.claims(["recipe": (0.94, 0.85)])
        #expect(c.recipeMinusCentralisedDice == nil)
        #expect(c.recipeWithin002OfCentralised == nil)
        #expect(c.recipeSecureWithin001OfPlain == nil)
    }
}
