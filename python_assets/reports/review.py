"""The analyst review behind one interface: a deterministic analyst that needs no network (the
default), and an optional OpenAI-compatible chat-completions provider that falls back to it.
The provider's prompt is built from the report's numbers only; the API key is sent as a header
and scrubbed from every message this module produces."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from python_assets.logs import log_event
from python_assets.secrets import scrub
from python_assets.reports.sections import gap_text

BASE_URL_ENV, MODEL_ENV, KEY_ENV, TIMEOUT_ENV = "BLOFIN_LLM_BASE_URL", "BLOFIN_LLM_MODEL", "BLOFIN_LLM_API_KEY", "BLOFIN_LLM_TIMEOUT"
SIGNIFICANT_DSR = 0.95


class Analyst(Protocol):
    def review(self, report: dict[str, Any]) -> dict[str, Any]:
        """{"analyst": name, "findings": [{"severity", "topic", "text"}], "summary": str, "warnings": [...]}"""


def _finding(severity: str, topic: str, text: str) -> dict[str, str]:
    return {"severity": severity, "topic": topic, "text": text}


@dataclass
class DeterministicAnalyst:
    """Rules over the report's numbers; every finding quotes the numbers behind it."""

    min_trades: int = 10
    overfit_ratio: float = 2.0
    name: str = "deterministic"

    def review(self, report: dict[str, Any]) -> dict[str, Any]:
        findings = []
        for s in report.get("symbols", []):
            gaps = s.get("data_gaps", {})
            if gaps.get("missing_minutes"):
                findings.append(_finding("warning", "data_quality", gap_text(s["symbol"], gaps) + "."))
            if s.get("quarantined_rows"):
                findings.append(_finding("warning", "data_quality", f"{s['symbol']}: {s['quarantined_rows']} input rows quarantined."))
            if s.get("regime") and s.get("regime_previous") and s["regime"] != s["regime_previous"]:
                findings.append(_finding("info", "regime", f"{s['symbol']}: regime changed from {s['regime_previous']} to {s['regime']}."))
        for st in report.get("strategies", []):
            if st.get("trade_count") is not None and st["trade_count"] < self.min_trades:
                findings.append(_finding("caution", "sample_size",
                                         f"{st['strategy']} on {st['symbol']}: only {st['trade_count']} trades in the window; "
                                         f"its Sharpe {_fmt(st.get('sharpe'))} is not reliable."))
        for wf in report.get("walk_forward", []):
            ins, oos = wf.get("in_sample_sharpe"), wf.get("out_of_sample_sharpe")
            if ins is not None and oos is not None and ins > 0 and (oos <= 0 or ins > self.overfit_ratio * oos):
                findings.append(_finding("caution", "overfitting",
                                         f"{wf['strategy']} on {wf['symbol']}: in-sample Sharpe {_fmt(ins)} vs out-of-sample "
                                         f"{_fmt(oos)} (mean over walk-forward folds)."))
        ranking = report.get("research", {}).get("ranking", [])
        if ranking:
            best = max(ranking, key=lambda r: r.get("deflated_sharpe") or 0)
            dsr = best.get("deflated_sharpe") or 0
            if dsr < SIGNIFICANT_DSR:
                findings.append(_finding("caution", "multiple_testing",
                                         f"no designed strategy is significant after {best.get('n_trials_total')} trials: best "
                                         f"deflated Sharpe {_fmt(dsr)} ({best.get('design_key')}) < {SIGNIFICANT_DSR}."))
        models = {}
        for m in report.get("ml", {}).get("models", []):
            models.setdefault(m["model"], {})[m["scorer"]] = m
        for name, pair in sorted(models.items()):
            model, base = pair.get("model"), pair.get("baseline")
            if not model or not base:
                continue
            metric, lower_better = ("log_loss", True) if model.get("log_loss") is not None else ("rmse", True)
            if model.get(metric) is not None and base.get(metric) is not None and model[metric] >= base[metric]:
                findings.append(_finding("caution", "ml", f"{name} does not beat its baseline out of sample: "
                                                          f"{metric} {_fmt(model[metric])} vs baseline {_fmt(base[metric])}."))
        for c in report.get("failed_checks", []):
            findings.append(_finding("warning", "checks", f"check {c.get('check')} on {c.get('asset')} failed."))
        counts = {k: sum(f["severity"] == k for f in findings) for k in ("warning", "caution", "info")}
        summary = (f"{len(findings)} finding(s): {counts['warning']} warning(s), {counts['caution']} caution(s), "
                   f"{counts['info']} note(s).") if findings else "No findings: data complete, results consistent."
        return {"analyst": self.name, "findings": findings, "summary": summary, "warnings": []}


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)


def prompt_numbers(report: dict[str, Any]) -> dict[str, Any]:
    """What the LLM sees: numbers from the report (no free text from outside, no secrets)."""
    keep = ("report_date", "symbols", "strategies", "walk_forward", "ml", "research", "failed_checks")
    return {k: report.get(k) for k in keep}


@dataclass
class OpenAICompatibleAnalyst:
    """POST {base_url}/chat/completions; on timeout, HTTP error or a malformed reply: retry, then
    fall back to the deterministic analyst with a warning (the key is never in that warning)."""

    base_url: str
    model: str
    api_key: str = field(repr=False)
    timeout: float = 20.0
    retries: int = 2
    name: str = "openai_compatible"

    def _scrub(self, text: str) -> str:
        return scrub(text, (self.api_key,))

    def _call(self, report: dict[str, Any]) -> dict[str, Any]:
        body = {"model": self.model, "temperature": 0, "messages": [
            {"role": "system", "content": "You are a quantitative research analyst. Review the daily report numbers. "
                                          "Reply with JSON: {\"summary\": str, \"findings\": [{\"severity\": "
                                          "\"info|caution|warning\", \"topic\": str, \"text\": str}]}. Quote numbers."},
            {"role": "user", "content": json.dumps(prompt_numbers(report), default=str)}]}
        req = urllib.request.Request(self.base_url.rstrip("/") + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            payload = json.loads(resp.read().decode())
        content = json.loads(payload["choices"][0]["message"]["content"])
        # the provider's words are scrubbed too: one that echoes a key must not put it in the report
        findings = [_finding(self._scrub(str(f["severity"])), self._scrub(str(f["topic"])), self._scrub(str(f["text"])))
                    for f in content["findings"]]
        return {"analyst": f"{self.name}:{self.model}", "findings": findings, "summary": self._scrub(str(content["summary"])),
                "warnings": []}

    def review(self, report: dict[str, Any]) -> dict[str, Any]:
        error = "no attempt"
        for attempt in range(self.retries + 1):
            try:
                return self._call(report)
            except (urllib.error.URLError, TimeoutError, OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                error = self._scrub(f"{type(exc).__name__}: {exc}")
                log_event("llm_review_attempt_failed", attempt=attempt + 1, error=error)
                time.sleep(min(0.2 * 2 ** attempt, 2.0))
        fallback = DeterministicAnalyst().review(report)
        fallback["warnings"].append(f"LLM review failed after {self.retries + 1} attempt(s) ({error}); "
                                    "the deterministic analyst wrote this review")
        return fallback


def analyst_from_env() -> Analyst:
    """The OpenAI-compatible provider when BLOFIN_LLM_BASE_URL and BLOFIN_LLM_MODEL are set, else deterministic."""
    base, model = os.environ.get(BASE_URL_ENV), os.environ.get(MODEL_ENV)
    if base and model:
        return OpenAICompatibleAnalyst(base, model, os.environ.get(KEY_ENV, ""), float(os.environ.get(TIMEOUT_ENV, "20")))
    return DeterministicAnalyst()
