import Testing
@testable import SecureAggregation
