"""The five models: what each predicts, its learner and its naive baseline."""

from __future__ import annotations

from dataclasses import dataclass

from python_assets.ml.learners import TorchLearner, XgbLearner


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # binary | multiclass | regression
    label: str
    backend: str  # xgboost | torch
    baseline: str  # majority_class | zero | persistence | base_rate
    description: str

    def learner(self, seed: int, threads: int, fast: bool = False):
        if self.backend == "xgboost":
            return XgbLearner(self.task, seed, threads, rounds=40 if fast else 150)
        return TorchLearner(self.task, seed, threads, epochs=2 if fast else 6, min_steps=100 if fast else 400)

    @property
    def n_classes(self) -> int:
        return {"binary": 2, "multiclass": 3}.get(self.task, 0)


MODELS = {m.name: m for m in (
    ModelSpec("direction_predictor", "binary", "fwd_direction_12", "xgboost", "majority_class",
              "xgboost classifier: P(close 12 bars ahead > close now)."),
    ModelSpec("price_predictor", "regression", "fwd_return_12", "torch", "zero",
              "torch MLP regression of the 12-bar forward return."),
    ModelSpec("momentum_classifier", "multiclass", "fwd_momentum_class_12", "xgboost", "majority_class",
              "xgboost 3-class classifier: down / flat / up beyond 0.5 sigma over 12 bars."),
    ModelSpec("volatility_regressor", "regression", "fwd_realized_vol_12", "xgboost", "persistence",
              "xgboost regression of realized volatility over the next 12 bars."),
    ModelSpec("risk_scorer", "binary", "fwd_adverse_12", "torch", "base_rate",
              "torch MLP: P(the low within 12 bars falls more than sigma_h below the close)."),
)}
