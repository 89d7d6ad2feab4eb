"""Our Adam (python_assets/ml/adam.py) is torch.optim.Adam bit for bit, and training imports no torch._dynamo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from python_assets.ml import learners  # noqa: E402
from python_assets.ml.adam import Adam  # noqa: E402


def _net(seed: int):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(7, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))


@pytest.mark.parametrize("lr,betas,eps", [(1e-3, (0.9, 0.999), 1e-8), (0.05, (0.5, 0.9), 1e-3)])
def test_parameters_after_many_steps_equal_torch_adams_bit_for_bit(lr, betas, eps):
    """Large and tiny gradients, a layer left without a gradient on some steps (its state must not move)."""
    rng = np.random.default_rng(3)
    X = torch.from_numpy(rng.normal(size=(300, 7)).astype(np.float32) * np.float32(1e3))
    y = torch.from_numpy(rng.normal(size=(300, 1)).astype(np.float32) * np.float32(1e-4))
    ours_net, theirs_net = _net(11), _net(11)
    ours, theirs = Adam(ours_net.parameters(), lr, betas, eps), torch.optim.Adam(theirs_net.parameters(), lr, betas, eps)
    for step in range(250):
        for net, opt in ((ours_net, ours), (theirs_net, theirs)):
            opt.zero_grad()
            rows = slice(step % 5 * 60, step % 5 * 60 + 60)
            loss = torch.nn.functional.mse_loss(net(X[rows]), y[rows])
            loss.backward()
            if step % 7 == 3:  # the last layer's bias gets no gradient on these steps
                net[2].bias.grad = None
            opt.step()
    for a, b in zip(ours_net.parameters(), theirs_net.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(ours_net[0].weight, _net(11)[0].weight)  # it did train


def test_a_torch_learner_predicts_as_it_did_with_torch_optim(monkeypatch):
    """TorchLearner fitted with our Adam and with torch.optim.Adam: the same predictions, bit for bit."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(900, 12))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (X[:, 0] + rng.normal(size=900) > 0).astype(np.float64)
    ours = learners.TorchLearner("binary", seed=3, epochs=2, min_steps=60).fit(X, y).predict(X)
    monkeypatch.setattr(learners, "Adam", torch.optim.Adam)
    theirs = learners.TorchLearner("binary", seed=3, epochs=2, min_steps=60).fit(X, y).predict(X)
    assert np.array_equal(ours, theirs)


def test_training_saving_and_loading_a_network_imports_no_dynamo(tmp_path):
    """What the optimizer was replaced for: no torch._dynamo (nor sympy) in a process that trains."""
    code = f"""
import sys
from pathlib import Path
import numpy as np
from python_assets.ml.learners import TorchLearner, load_learner
X = np.random.default_rng(0).normal(size=(400, 5)); y = X[:, 0] * 2.0
learner = TorchLearner("regression", epochs=1, min_steps=20).fit(X, y)
learner.save(Path({str(tmp_path)!r}))
assert np.array_equal(load_learner(Path({str(tmp_path)!r})).predict(X), learner.predict(X))
print(sorted(m for m in sys.modules if m.startswith(("torch._dynamo", "sympy"))))
"""
    root = Path(__file__).resolve().parents[2]  # the tree under test, not whatever the venv's editable install names
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("threads", [1, 2])
def test_awkward_gradients_give_torchs_bits_too(threads):
    """NaN and infinite gradient entries, a parameter that never gets a gradient and one whose first arrives
    late, under one and two torch threads: the same bit patterns as torch.optim.Adam (NaN included)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    shapes = [(300_000,), (3, 4), (5,), (2, 2)]
    ours_p = [torch.zeros(s, requires_grad=True) for s in shapes]
    theirs_p = [torch.zeros(s, requires_grad=True) for s in shapes]
    ours, theirs = Adam(ours_p, 0.01), torch.optim.Adam(theirs_p, 0.01)
    gen = torch.Generator().manual_seed(1)
    for step in range(30):
        grads = [torch.randn(s, generator=gen) * 10.0 ** (step % 7 - 3) for s in shapes]
        grads[1][0, 0] = float("nan") if step == 11 else grads[1][0, 0]
        grads[2][1] = float("inf") if step == 15 else -float("inf") if step == 16 else grads[2][1]
        for params, opt in ((ours_p, ours), (theirs_p, theirs)):
            opt.zero_grad()
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                p.grad = None if i == 3 or (i == 2 and step < 8) else g.clone()
            opt.step()
    torch.set_num_threads(before)
    for a, b in zip(ours_p, theirs_p, strict=True):
        assert torch.equal(a.detach().view(torch.int32), b.detach().view(torch.int32))
    assert torch.isnan(ours_p[1][0, 0]) and torch.isnan(ours_p[2][1]) and torch.equal(ours_p[3], torch.zeros(2, 2))


def test_a_saved_torch_learner_scores_without_torch_and_as_torch_would(tmp_path):
    """Scoring reads weights.npz and computes the network in NumPy: a day that only scores imports no torch,
    the scores equal the fitting process's bit for bit and torch's own forward pass to ~1e-7."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(700, 9))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (X[:, 0] + rng.normal(size=700) > 0).astype(np.float64)
    learner = learners.TorchLearner("binary", seed=4, epochs=1, min_steps=40).fit(X, y)
    learner.save(tmp_path)
    with torch.no_grad():
        logits = learner.net(learner._scaled(X)).numpy().reshape(-1).astype(np.float64)
    ours = learner.predict(X)
    np.testing.assert_allclose(ours, 1 / (1 + np.exp(-logits)), rtol=0, atol=1e-6)
    np.save(tmp_path / "X.npy", X)
    code = f"""
import sys
from pathlib import Path
import numpy as np
from python_assets.ml.learners import load_learner
d = Path({str(tmp_path)!r})
np.save(d / "scored.npy", load_learner(d).predict(np.load(d / "X.npy")))
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}).stdout
    assert out.strip() == "[]"
    assert np.array_equal(np.load(tmp_path / "scored.npy"), ours)
    (tmp_path / "again").mkdir()
    learners.load_learner(tmp_path).save(tmp_path / "again")  # loaded without torch's network: saved again
    assert np.array_equal(learners.load_learner(tmp_path / "again").predict(X), ours)
    (tmp_path / "weights.npz").unlink()  # a version saved before weights.npz: read with torch, the same scores
    assert np.array_equal(learners.load_learner(tmp_path).predict(X), ours)
