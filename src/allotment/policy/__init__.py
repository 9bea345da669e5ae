"""Policy records: the versioned document of weights, thresholds and routing."""
