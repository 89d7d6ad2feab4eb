"""Strategy research: a designer proposing specs, an Optuna tuner, and a multiple-testing-aware ranker."""
