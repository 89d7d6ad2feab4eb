"""A backtest's exports and chart are written atomically: a full disk midway keeps the previous file whole
(review_crash2 enospc_export.py: a torn CSV/JSON/Parquet, and a torn chart over a good one, under the name)."""

from __future__ import annotations

import errno
from pathlib import Path

import pandas as pd
import pytest

from python_assets.backtest import chart
from python_assets.backtest.artifacts import RunData, export_run


def torn_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write stops halfway with ENOSPC, as on a full disk: half its bytes land, then it raises."""
    def half_then_full(path, data) -> None:
        data = data.encode() if isinstance(data, str) else data
        with open(path, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def frame_half(frame, path, **kw) -> None:
        half_then_full(path, b"x" * 1000)

    monkeypatch.setattr(Path, "write_text", lambda self, data, *a, **kw: half_then_full(self, data))
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: half_then_full(self, data))
    monkeypatch.setattr(pd.DataFrame, "to_csv", frame_half)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", frame_half)


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_full_disk_keeps_the_previous_export_whole(tmp_path, monkeypatch, fmt):
    frame = pd.DataFrame({"a": [1.5, 2.5], "b": [1, 2]})
    run = RunData("r1", [], frame, frame)
    before = {p.name: p.read_bytes() for p in export_run(run, tmp_path, fmt)}
    torn_writes(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        export_run(run, tmp_path, fmt)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp left, nothing torn


def test_a_full_disk_keeps_the_previous_chart_whole(tmp_path, monkeypatch):
    page = tmp_path / "run.html"
    monkeypatch.setattr(chart, "chart_html", lambda run, indicators, overlays: "<html>a whole page</html>\n")
    chart.write_chart(None, None, (), page)
    torn_writes(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        chart.write_chart(None, None, (), page)
    assert page.read_text() == "<html>a whole page</html>\n" and [p.name for p in tmp_path.iterdir()] == ["run.html"]
