"""Risk models: pipelines, splits, calibration, baselines, evaluation, registry."""
