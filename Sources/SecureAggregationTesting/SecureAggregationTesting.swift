// SecureAggregationTesting module
