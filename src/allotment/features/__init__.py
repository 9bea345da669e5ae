"""Features: one definition each, computed as of a point in time, for training and scoring."""
