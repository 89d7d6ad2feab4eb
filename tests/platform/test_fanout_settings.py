"""The fan-out settings come from python_assets/config.py: default in-process, env overrides, and a bad
value is one clear line; the Dagster resource is built from them."""

from __future__ import annotations

import pytest

from dagster_defs.resources import SymbolFanout, resources, symbol_fanout_from_env
from python_assets.config import DEFAULT_SYMBOL_BATCH, symbol_batch_size, symbol_workers


def test_default_is_one_worker_in_process(monkeypatch):
    monkeypatch.delenv("BLOFIN_SYMBOL_WORKERS", raising=False)
    monkeypatch.delenv("BLOFIN_SYMBOL_BATCH", raising=False)
    assert (symbol_workers(), symbol_batch_size()) == (1, DEFAULT_SYMBOL_BATCH)
    fan = resources()["symbol_fanout"]
    assert isinstance(fan, SymbolFanout) and (fan.max_workers, fan.batch_size) == (1, DEFAULT_SYMBOL_BATCH)
    with fan.mapper() as run:
        assert list(run(lambda b: [len(b)] * len(b), list(range(6)))) == [4, 4, 4, 4, 2, 2]  # batches of 4, in-process


def test_environment_sets_workers_and_batch(monkeypatch):
    monkeypatch.setenv("BLOFIN_SYMBOL_WORKERS", " 3 ")
    monkeypatch.setenv("BLOFIN_SYMBOL_BATCH", "2")
    fan = symbol_fanout_from_env()
    assert (fan.max_workers, fan.batch_size) == (3, 2)


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5"])
def test_a_bad_value_is_one_clear_line(monkeypatch, raw):
    monkeypatch.setenv("BLOFIN_SYMBOL_WORKERS", raw)
    with pytest.raises(ValueError, match=r"BLOFIN_SYMBOL_WORKERS must be a whole number >= 1, got") as err:
        symbol_workers()
    assert "\n" not in str(err.value)
