"""The SQL metrics mart against an independent pandas computation on the same ledger; bad specs
fail before any run; compiled signals use no future bars; the CLI end to end."""

from __future__ import annotations

import json
import math
import re

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from blofin_cli.main import main as cli_main
from python_assets.backtest.engine import Costs
from python_assets.backtest.expr import parse
from blofin_cli.research import run_backtest
from python_assets.backtest.spec import SpecError, compile_strategy, resolve_params, spec_from_dict
from python_assets.backtest.spec_files import STRATEGY_DIR, catalog_spec, load_spec
from python_assets.research.design_specs import design_strategy

from test_vs_backtesting_py import ours_frame, synthetic_ohlc

SPEC = {
    "name": "sma_cross_stops",
    "timeframe": "5m",
    "side": "both",
    "params": {"fast": {"default": 8, "min": 2, "max": 50}, "slow": {"default": 34, "min": 3, "max": 200}},
    "constraints": ["fast < slow"],
    "entry_long": "cross_above(sma(close, fast), sma(close, slow))",
    "entry_short": "cross_below(sma(close, fast), sma(close, slow))",
    "stop_loss": 0.01,
    "take_profit": 0.015,
    "trailing_stop": 0.008,
    "max_bars": 60,
}


def write_csv(tmp_path, n=2500, seed=11):
    df = synthetic_ohlc(n, seed)
    path = tmp_path / "SYNTH.csv"
    df.rename_axis("Date").reset_index().to_csv(path, index=False)
    return path


def python_metrics(con, bid: str) -> dict:
    """Every metric recomputed from the ledger with pandas (independent of the dbt SQL)."""
    run = con.execute("select * from backtest_runs where backtest_id = ?", [bid]).df().iloc[0]
    eq = con.execute("select * from backtest_equity where backtest_id = ? order by bar_at_ms", [bid]).df()
    tr = con.execute("select * from backtest_trades where backtest_id = ? order by trade_no", [bid]).df()
    init, bar_ms = float(run["initial_equity"]), int(run["bar_ms"])
    e = eq["equity"].to_numpy()
    r = e / np.r_[init, e[:-1]] - 1
    bpy = 365 * 86_400_000 / bar_ms
    peak = np.maximum.accumulate(np.r_[init, e])[1:]
    close_ms = eq["bar_at_ms"].to_numpy() + bar_ms
    last_peak, dd_dur = eq["bar_at_ms"].iloc[0], 0
    for v, p, t in zip(e, peak, close_ms):
        if v >= p:
            last_peak = t
        dd_dur = max(dd_dur, t - last_peak)
    days = (close_ms[-1] - eq["bar_at_ms"].iloc[0]) / 86_400_000
    final = e[-1]
    pnl = tr["pnl"].to_numpy()
    wins = pnl > 0
    streak = lambda flags: max((len(list(g)) for k, g in __import__("itertools").groupby(flags) if k), default=0)  # noqa: E731
    cagr = (final / init) ** (365 / days) - 1
    mdd = min((e / peak - 1).min(), 0)
    sharpe = r.mean() / r.std(ddof=1) * math.sqrt(bpy)
    base = sharpe * math.sqrt(min(len(tr), 30) / 30)
    return {
        "final_equity": final, "total_return": final / init - 1, "cagr": cagr, "sharpe": sharpe,
        "sortino": r.mean() / math.sqrt((np.minimum(r, 0) ** 2).mean()) * math.sqrt(bpy),
        "max_drawdown": mdd, "calmar": cagr / -mdd, "max_drawdown_duration_days": dd_dur / 86_400_000,
        "exposure": ((eq["position"] != 0) | ((eq.index == len(eq) - 1) & bool(tr["closed_at_end"].any()))).mean(),
        "buy_and_hold_return": eq["close"].iloc[-1] / eq["open"].iloc[0] - 1,
        "trade_count": len(tr), "win_rate": wins.mean(), "profit_factor": pnl[wins].sum() / -pnl[~wins].sum(),
        "expectancy": pnl.mean(), "avg_win": pnl[wins].mean(), "avg_loss": pnl[~wins].mean(),
        "fees_paid": (tr["entry_fee"] + tr["exit_fee"]).sum(), "funding_paid": tr["funding"].sum(),
        "avg_holding_hours": ((tr["exit_at_ms"] - tr["entry_at_ms"]) / 3_600_000).mean(),
        "max_consecutive_wins": streak(list(wins)), "max_consecutive_losses": streak(list(~wins)),
        "composite_score": -1000.0 if final <= 0 else max(-999.0, base * (1 + mdd) if base >= 0 else base / (1 + mdd)),
    }


@pytest.mark.slow
def test_sql_metrics_equal_an_independent_python_computation(data_dir, tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    costs = Costs(taker_fee=0.0006, maker_fee=0.0002, slippage_bps=2.0)
    run_id, rows = run_backtest(data_dir, str(spec_path), {}, costs, data=write_csv(tmp_path))
    assert len(rows) == 1
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        sql = con.execute("select * from strategy_backtest_results where run_id = ?", [run_id]).df().iloc[0]
        reasons = {r[0] for r in con.execute("select distinct exit_reason from backtest_trades").fetchall()}
        want = python_metrics(con, sql["backtest_id"])
    assert {"take_profit", "trailing_stop", "reverse"} <= reasons  # a ledger worth checking
    assert want["trade_count"] > 50
    for name, value in want.items():
        assert sql[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_bad_specs_fail_with_a_clear_message_before_any_run(data_dir, tmp_path):
    cases = [
        ({"entry_long": "rsi_99 < 30"}, "unknown name 'rsi_99'"),
        ({"entry_long": "close > sma(close, window)"}, "'window', which is not a declared parameter"),
        ({"stop_loss": "stop"}, "names parameter 'stop', which is not declared"),
        ({"stop_loss": 0.02, "trailing_stop": 0.05}, "trailing_stop=0.05 is wider than stop_loss=0.02"),
        ({"stop_loss": 1.5}, "stop_loss=1.5 must be a fraction in (0, 1)"),
        ({"take_profit": -0.01}, "take_profit=-0.01 must be > 0"),
        ({"timeframe": "7m"}, "timeframe '7m' is not one of"),
        ({"entry_long": "cross_above(close, "}, "entry_long"),
        ({"entry_shortt": "close > open"}, "unknown key(s) ['entry_shortt']"),
        ({"side": "short", "entry_short": None}, "side short needs entry_short"),
    ]
    for change, message in cases:
        raw = {**SPEC, **change}
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(SpecError) as err:
            run_backtest(data_dir, str(path), {}, Costs(), data=write_csv(tmp_path, n=100))
        assert message in str(err.value), (change, str(err.value))
    spec = spec_from_dict(SPEC)
    with pytest.raises(SpecError, match="constraint 'fast < slow' does not hold"):
        resolve_params(spec, {"fast": 40, "slow": 30})
    with pytest.raises(SpecError, match="unknown parameter"):
        resolve_params(spec, {"fats": 5})
    with pytest.raises(SpecError, match=r"outside \[2, 50\]"):
        resolve_params(spec, {"fast": 1})
    assert not data_dir.warehouse.exists()  # nothing ran, nothing was stored


def test_a_catalog_spec_is_read_again_when_its_file_changes(tmp_path):
    """catalog_spec caches the folder by its files' names, times and sizes: an edited, added or removed
    spec is seen at the next lookup, not a stale copy."""
    import os
    import shutil

    folder = tmp_path / "specs"
    shutil.copytree(STRATEGY_DIR, folder)
    assert catalog_spec("sma_cross", folder) == load_spec(STRATEGY_DIR / "sma_cross.yaml")
    raw = yaml.safe_load((folder / "sma_cross.yaml").read_text())
    raw["description"] = "edited"
    (folder / "sma_cross.yaml").write_text(yaml.safe_dump(raw))
    os.utime(folder / "sma_cross.yaml", ns=(1, 1))  # a new mtime even where the clock is coarse
    assert catalog_spec("sma_cross", folder).description == "edited"
    (folder / "extra.yaml").write_text(yaml.safe_dump({**raw, "name": "extra"}))
    assert catalog_spec("extra", folder).name == "extra"
    (folder / "extra.yaml").unlink()
    with pytest.raises(KeyError):
        catalog_spec("extra", folder)
    # a design names a shipped spec, or carries its own
    assert design_strategy("catalog:sma_cross", "catalog", {"catalog": "sma_cross"}) == catalog_spec("sma_cross")
    own = {**raw, "name": "own"}
    assert design_strategy("d_own", "designer", own) == spec_from_dict(own)


def test_compiled_signals_use_no_future_bars():
    spec = load_spec(STRATEGY_DIR / "sma_cross.yaml")
    frame = ours_frame(synthetic_ohlc(1500, seed=3))
    sql = compile_strategy(spec, resolve_params(spec, {"fast": 5, "slow": 20}), frozenset(), "bars", "5m")
    with duckdb.connect() as con:
        con.register("bars", frame)
        full = con.execute(sql + " order by bar_at_ms").df()
        for cut in (300, 777, 1200):
            con.register("bars", frame.iloc[:cut])
            part = con.execute(sql + " order by bar_at_ms").df()
            head = full[full["bar_at_ms"] < frame["bar_at_ms"].iloc[cut]].reset_index(drop=True)
            pd.testing.assert_frame_equal(part, head)
    assert len(full) > 20


def test_expression_language_rejects_what_it_does_not_know():
    with pytest.raises(ValueError, match="unexpected character"):
        parse("close > 1; drop table x")
    with pytest.raises(ValueError, match="unknown function 'exec'"):
        compile_strategy(spec_from_dict({**SPEC, "entry_long": "exec(close)"}), {"fast": 8, "slow": 34}, frozenset(), "b")


@pytest.mark.slow
def test_cli_backtest_on_a_csv_prints_metrics_and_stores_the_run(data_dir, tmp_path, capsys):
    path = write_csv(tmp_path, n=1500)
    assert cli_main(["backtest", "--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30",
                     "--data", str(path), "--fees", "0"]) == 0
    out = capsys.readouterr().out
    assert "Sharpe" in out and "SYNTH 5m" in out and "Exit reasons" in out and "stored as run" in out
    assert "note: a --data file carries no funding, so none is charged" in out  # not a silent Funding 0.00
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        row = con.execute("select strategy_id, fees_paid, params, source from strategy_backtest_results").fetchall()
    assert row[0][0] == "sma_cross(fast=10,slow=30)" and row[0][1] == 0 and json.loads(row[0][2]) == {"fast": 10, "slow": 30}
    assert row[0][3].startswith("file:")
    # One writer of strategy_backtest_results: the metrics came from the ledger models of the results dbt
    # asset (those only), run through Dagster (in the data dir's instance, so the UI lists it), not from a
    # dbt call of the CLI's own.
    import dagster as dg

    from dagster_defs.runner import persistent_instance
    runs = persistent_instance(data_dir).get_run_records(dg.RunsFilter(tags={"blofin/command": "backtest"}))
    assert len(runs) == 1 and runs[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert set(runs[0].dagster_run.asset_selection) == {dg.AssetKey(name) for name in
                                                        ("bt_equity_stats", "bt_trade_stats", "strategy_backtest_results")}
    # the printed query answers at once through `blofin-stack query`, which reads the published snapshot
    # where a daily run made one (it had the warehouse as of that run: 0 rows until the next one)
    from python_assets.warehouse.snapshot import publish_snapshot

    publish_snapshot(data_dir)
    assert cli_main(["backtest", "--strategy", "sma_cross", "--data", str(path), "--fees", "0", "--no-html"]) == 0
    hint = re.search(r"stored as run \w+: (select .*)", capsys.readouterr().out)[1]
    assert cli_main(["query", hint, "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert cli_main(["backtest", "--strategy", "rsi_bollinger_reversion", "--data", str(path)]) == 2
    assert "OHLCV columns only" in capsys.readouterr().err


def test_walk_forward_folds_roll_or_anchor_without_overlap():
    from python_assets.backtest.runner import WalkForward
    from python_assets.platform.timeframes import DAY_MS

    rolling = WalkForward(3, 1).folds(0, 10 * DAY_MS)
    assert [(i.start_ms // DAY_MS, i.end_ms // DAY_MS, o.start_ms // DAY_MS, o.end_ms // DAY_MS) for i, o in rolling] == [
        (0, 3, 3, 4), (1, 4, 4, 5), (2, 5, 5, 6), (3, 6, 6, 7), (4, 7, 7, 8), (5, 8, 8, 9), (6, 9, 9, 10)]
    anchored = WalkForward(3, 2, anchored=True).folds(0, 10 * DAY_MS)
    assert [(i.start_ms // DAY_MS, i.end_ms // DAY_MS, o.end_ms // DAY_MS) for i, o in anchored] == [
        (0, 3, 5), (0, 5, 7), (0, 7, 9)]


@pytest.mark.slow
def test_walk_forward_run_stores_in_and_out_of_sample_windows(data_dir, tmp_path):
    from python_assets.backtest.runner import WalkForward

    _, rows = run_backtest(data_dir, "sma_cross", {"fast": 5, "slow": 20}, Costs(), data=write_csv(tmp_path),
                           walk_forward=WalkForward(3, 1))
    kinds = [(r["window_id"], r["window_kind"]) for r in rows]
    folds = sorted({w for w, k in kinds if k != "full"})
    assert ("full", "full") in kinds and len(folds) >= 4
    assert all((f, "in_sample") in kinds and (f, "out_of_sample") in kinds for f in folds)


def test_the_selection_objective_has_no_sharpe_for_a_curve_flat_up_to_rounding():
    """equity_sharpe (the walk-forward's in-sample objective) took sd > 0 as a spread: equity x1.001 a bar,
    whose returns differ by rounding only, scored 9.6e12 and won any parameter search; it now scores as a
    flat curve (-inf), as dsr.sharpe and the marts call it undefined."""
    from python_assets.backtest.runner import equity_sharpe

    assert equity_sharpe(100.0 * 1.001 ** np.arange(1, 200), 100.0) == -math.inf
    varied = np.array([101.0, 100.0, 102.0, 103.0])
    r = np.diff(np.r_[100.0, varied]) / np.r_[100.0, varied][:-1]
    assert equity_sharpe(varied, 100.0) == pytest.approx(r.mean() / r.std(ddof=1))
