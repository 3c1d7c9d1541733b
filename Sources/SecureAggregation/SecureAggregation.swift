// SecureAggregation module
