"""The two learner backends: xgboost boosters and small torch networks on CPU, deterministic for a
seed and thread count, saved and loaded so a reloaded model predicts bit for bit the same."""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from python_assets.ml.adam import Adam


def _xgboost() -> Any:
    """xgboost, imported without scikit-learn: its import pulls sklearn (and scipy.stats) in only for the
    sklearn-API wrappers and xgb.cv's stratified folds, neither used here: ~0.9 s and ~65 MiB in every process
    that trains or scores a booster. Where sklearn is already imported it is left alone; the blocking entry is
    removed at once, so a later `import sklearn` works as usual."""
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        import xgboost

        return xgboost
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # an ImportError for xgboost.compat's try
    try:
        import xgboost
    finally:
        if "sklearn" in sys.modules and sys.modules["sklearn"] is None:
            del sys.modules["sklearn"]
    return xgboost


@dataclass
class XgbLearner:
    """Gradient-boosted trees (hist); NaN features are handled natively."""

    task: str  # binary | multiclass | regression
    seed: int = 7
    threads: int = 1
    rounds: int = 150
    params: dict[str, Any] = field(default_factory=lambda: {"max_depth": 5, "eta": 0.08, "subsample": 0.8,
                                                            "colsample_bytree": 0.8, "min_child_weight": 5})
    booster: Any = None

    def _objective(self) -> dict[str, Any]:
        return {"binary": {"objective": "binary:logistic"},
                "multiclass": {"objective": "multi:softprob", "num_class": 3},
                "regression": {"objective": "reg:squarederror"}}[self.task]

    def fit(self, X: np.ndarray, y: np.ndarray) -> "XgbLearner":
        xgb = _xgboost()
        params = {**self.params, **self._objective(), "tree_method": "hist", "nthread": self.threads,
                  "seed": self.seed, "verbosity": 0}
        self.booster = xgb.train(params, xgb.DMatrix(X, label=y, nthread=self.threads), num_boost_round=self.rounds)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        xgb = _xgboost()
        return np.asarray(self.booster.predict(xgb.DMatrix(X, nthread=self.threads)), dtype=np.float64)

    def save(self, directory: Path) -> None:
        self.booster.save_model(str(directory / "model.ubj"))
        (directory / "learner.json").write_text(json.dumps({"backend": "xgboost", "task": self.task, "seed": self.seed,
                                                            "threads": self.threads, "rounds": self.rounds,
                                                            "params": self.params}))

    @classmethod
    def load(cls, directory: Path) -> "XgbLearner":
        xgb = _xgboost()
        meta = json.loads((directory / "learner.json").read_text())
        learner = cls(meta["task"], meta["seed"], meta["threads"], meta["rounds"], meta["params"])
        learner.booster = xgb.Booster(model_file=str(directory / "model.ubj"))
        return learner


@dataclass
class TorchLearner:
    """A 2-hidden-layer MLP on standardized features (NaN -> 0 after scaling), Adam (torch's, without
    torch.optim: python_assets/ml/adam.py), fixed seed."""

    task: str  # binary | regression
    seed: int = 7
    threads: int = 1
    epochs: int = 6
    batch: int = 1024
    hidden: tuple[int, int] = (64, 32)
    min_steps: int = 400
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    y_scale: float = 1.0
    net: Any = None
    weights: list[tuple[np.ndarray, np.ndarray]] | None = None  # the network's layers as NumPy arrays

    def _build(self, n_in: int):
        import torch

        torch.manual_seed(self.seed)
        return torch.nn.Sequential(torch.nn.Linear(n_in, self.hidden[0]), torch.nn.ReLU(),
                                   torch.nn.Linear(self.hidden[0], self.hidden[1]), torch.nn.ReLU(),
                                   torch.nn.Linear(self.hidden[1], 1))

    def _standardized(self, X: np.ndarray) -> np.ndarray:
        """(X - mean) / std as float32, NaN and infinities as 0 (one new array, changed in place)."""
        Z = X.astype(np.float32)
        Z -= self.mean
        Z /= self.std
        return np.nan_to_num(Z, copy=False, nan=0.0, posinf=0.0, neginf=0.0)

    def _scaled(self, X: np.ndarray):
        import torch

        return torch.from_numpy(self._standardized(X))

    def fit(self, X: np.ndarray, y: np.ndarray) -> "TorchLearner":
        import torch

        torch.set_num_threads(self.threads)
        with warnings.catch_warnings():  # all-NaN columns (warm-up only) scale to 0 / 1
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean = np.nan_to_num(np.nanmean(X, axis=0)).astype(np.float32)
            std = np.nanstd(X, axis=0).astype(np.float32)
        self.std = np.where(np.isfinite(std) & (std > 0), std, 1.0).astype(np.float32)
        if self.task == "regression":
            self.y_scale = float(np.std(y)) or 1.0
        Xt = self._scaled(X)
        yt = torch.from_numpy((y / self.y_scale).astype(np.float32)).reshape(-1, 1)
        self.net, self.weights = self._build(X.shape[1]), None
        opt = Adam(self.net.parameters(), lr=1e-3)
        loss_fn = torch.nn.BCEWithLogitsLoss() if self.task == "binary" else torch.nn.MSELoss()
        gen = torch.Generator().manual_seed(self.seed)
        # small sets get smaller batches and more epochs: at least min_steps optimiser steps
        batch = min(self.batch, max(128, len(Xt) // 16))
        per_epoch = -(-len(Xt) // batch)
        epochs = max(self.epochs, min(200, -(-self.min_steps // per_epoch)))
        for _ in range(epochs):
            order = torch.randperm(len(Xt), generator=gen)
            for i in range(0, len(Xt), batch):
                idx = order[i:i + batch]
                opt.zero_grad()
                loss = loss_fn(self.net(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The network's output in NumPy from its saved weights (mlp_forward): a day that only scores never
        imports torch (~176 MiB and ~1 s in the Dagster process), and every prediction, in the fitting child
        or a later scoring step, takes the same path."""
        out = mlp_forward(self._standardized(X), self.layers)
        return 1 / (1 + np.exp(-out)) if self.task == "binary" else out * self.y_scale

    @property
    def layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each Linear layer's (weight, bias), from the fitted or loaded network when there is no copy yet."""
        if self.weights is None:
            self.weights = [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
                            for m in self.net if hasattr(m, "weight")]
        return self.weights

    def save(self, directory: Path) -> None:
        """weights.npz (what scoring reads), the scaler and the settings; model.pt too where the torch network
        is at hand (a fitted learner; one loaded from weights.npz has none), for loading it into torch."""
        if self.net is not None:
            import torch

            torch.save(self.net.state_dict(), directory / "model.pt")
        np.savez(directory / "scaler.npz", mean=self.mean, std=self.std)
        np.savez(directory / "weights.npz", **{f"{k}{i}": a for i, layer in enumerate(self.layers)
                                                for k, a in zip(("w", "b"), layer, strict=True)})
        (directory / "learner.json").write_text(json.dumps({
            "backend": "torch", "task": self.task, "seed": self.seed, "threads": self.threads,
            "epochs": self.epochs, "batch": self.batch, "hidden": list(self.hidden), "min_steps": self.min_steps,
            "y_scale": self.y_scale,
            "n_in": int(len(self.mean))}))

    @classmethod
    def load(cls, directory: Path) -> "TorchLearner":
        """A saved learner for scoring: its weights from weights.npz without torch (a version saved before
        that file existed is read with torch)."""
        meta = json.loads((directory / "learner.json").read_text())
        scaler = np.load(directory / "scaler.npz")
        learner = cls(meta["task"], meta["seed"], meta["threads"], meta["epochs"], meta["batch"], tuple(meta["hidden"]),
                      meta["min_steps"], scaler["mean"], scaler["std"], meta["y_scale"])
        if (directory / "weights.npz").exists():
            with np.load(directory / "weights.npz") as saved:
                learner.weights = [(saved[f"w{i}"], saved[f"b{i}"]) for i in range(len(saved.files) // 2)]
            return learner
        import torch

        learner.net = learner._build(meta["n_in"])
        learner.net.load_state_dict(torch.load(directory / "model.pt", weights_only=True))
        learner.net.eval()
        return learner


def mlp_forward(Z: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """An MLP's output (float64, one value a row) for float32 inputs: each Linear layer in float64 (x W^T + b),
    ReLU between them; within ~1e-6 of torch's float32 forward pass. The same rows scored in one batch give
    the same bits in any process; a batch of another size may differ in the last bits (BLAS picks its
    kernels by shape), as torch's did."""
    h = Z.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.astype(np.float64).T
        h += b.astype(np.float64)
        if i < len(layers) - 1:
            np.maximum(h, 0.0, out=h)
    return h.reshape(-1)


def load_learner(directory: Path):
    backend = json.loads((directory / "learner.json").read_text())["backend"]
    return (XgbLearner if backend == "xgboost" else TorchLearner).load(directory)
