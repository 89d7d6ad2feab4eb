"""The analyst review behind one interface: a deterministic analyst that needs no network (the
default), and an optional OpenAI-compatible chat-completions provider that falls back to it.
The provider's prompt is built from the report's numbers and the names they belong to, never a user's
prose (see prompt_numbers); the API key is sent as a header
and scrubbed from every message this module produces."""

from __future__ import annotations

import http.client
import json
import math
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from python_assets.config import SettingError, llm_api_key, llm_base_url, llm_model, llm_timeout_s
from python_assets.ml.ensembles import MEMBERS as ENSEMBLE_MEMBERS
from python_assets.platform.alerts import split_credentials
from python_assets.platform.deadline import Deadline, NoRedirect, ResolveTimeout, deadline_handlers, next_wait
from python_assets.platform.deadline import pause as _pause  # patched by tests to see the waits
from python_assets.platform.logs import log_event
from python_assets.reports import fmt
from python_assets.platform.secrets import scrub
from python_assets.reports.sections import gap_text

SIGNIFICANT_DSR = 0.95
SEVERITIES = ("info", "caution", "warning")
ERROR_CHARS = 300  # a failed attempt's error is quoted (scrubbed) up to this length
# what a hostile or broken endpoint can raise: URLError and TimeoutError are OSErrors; http.client's
# IncompleteRead, BadStatusLine and LineTooLong are HTTPExceptions; deeply nested JSON is a RecursionError
PROVIDER_ERRORS = (OSError, http.client.HTTPException, ValueError, KeyError, TypeError, IndexError, RecursionError)
# what one reply may put in the report: a review is a few KiB, so more is an endpoint gone wrong
MAX_REPLY_BYTES = 1 << 20  # a longer body is refused (the attempt fails)
SUMMARY_CHARS, TOPIC_CHARS, FINDING_CHARS, MAX_FINDINGS = 2000, 80, 1000, 50  # longer is cut (TRUNCATED)
TRUNCATED = " … [truncated]"
SURROGATE = re.compile(r"[\ud800-\udfff]")  # in a str only unpaired: json.loads joins a valid pair into one character
CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # an ANSI CSI sequence whole, other C0/C1
PROMPT_LEFT_OUT = ("spec",)  # a design's spec JSON, user prose inside: never sent to the LLM (see prompt_numbers)
PROMPT_CHECK_KEYS = ("asset", "check")  # of a failed check, its names only: a description can quote a user's file


class Analyst(Protocol):
    def review(self, report: dict[str, Any]) -> dict[str, Any]:
        """{"analyst": name, "findings": [{"severity", "topic", "text"}], "summary": str, "warnings": [...]}"""


def _finding(severity: str, topic: str, text: str) -> dict[str, str]:
    return {"severity": severity, "topic": topic, "text": text}


@dataclass
class DeterministicAnalyst:
    """Rules over the report's numbers; every finding quotes the numbers behind it."""

    min_trades: int = 10
    min_days: float = 90.0
    top_ranked: int = 3
    overfit_ratio: float = 2.0
    name: str = "deterministic"
    notes: tuple[str, ...] = ()  # warnings every review carries (why it stands in for the LLM provider)

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
            findings += self._sample_findings(st)
        for wf in report.get("walk_forward", []):
            ins, oos = wf.get("in_sample_sharpe"), wf.get("out_of_sample_sharpe")
            if ins is not None and oos is not None and ins > 0 and (oos <= 0 or ins > self.overfit_ratio * oos):
                findings.append(_finding("caution", "overfitting",
                                         f"{wf['strategy']} on {wf['symbol']}: in-sample Sharpe {_fmt(ins)} vs out-of-sample "
                                         f"{_fmt(oos)} ({_folds(wf.get('scored_folds'))})."))
        findings += _multiple_testing_findings(report.get("research", {}).get("ranking", []))
        findings += _search_findings((report.get("overfitting") or {}).get("search"))
        models = _models_vs_baselines(report)
        reused = _reused_versions(report)
        for name, (metric, model, base) in sorted(models.items()):
            if model >= base:
                findings.append(_finding("caution", "ml", f"{name} does not beat its baseline out of sample: "
                                                          f"{metric} {_fmt(model)} vs baseline {_fmt(base)}"
                                                          f"{reused.get(name, '')}."))
        findings += _ml_contradictions(report.get("strategies", [])[:self.top_ranked], models)
        for c in report.get("failed_checks", []):
            findings.append(_finding("warning", "checks", f"check {c.get('check')} on {c.get('asset')} failed."))
        counts = {k: sum(f["severity"] == k for f in findings) for k in ("warning", "caution", "info")}
        summary = (f"{len(findings)} finding(s): {counts['warning']} warning(s), {counts['caution']} caution(s), "
                   f"{counts['info']} note(s).") if findings else "No findings: data complete, results consistent."
        return {"analyst": self.name, "findings": findings, "summary": summary, "warnings": list(self.notes)}


    def _sample_findings(self, st: dict[str, Any]) -> list[dict[str, str]]:
        """Zero trades, few trades or a short window: say how many days and bars the Sharpe covers and its error."""
        name, trades, days = f"{st['strategy']} on {st['symbol']}", st.get("trade_count"), st.get("duration_days")
        span = "window" if days is None else f"{days * 24:.0f}-hour window" if days < 2 else f"{days:.0f}-day window"
        if trades == 0:
            return [_finding("info", "sample_size", f"{name}: no trades in the {span}; its score says nothing yet.")]
        few = trades is not None and trades < self.min_trades
        short = days is not None and days < self.min_days
        if not (few or short) or st.get("sharpe") is None:
            return []
        se = sharpe_standard_error(st["sharpe"], st.get("bars"), st.get("bars_per_year"))
        error = f" ± {se:.2f} (one standard error over {st['bars']:,} bars)" if se is not None else ""
        why = f"only {trades} trade{'s' if trades != 1 else ''}" if few else f"{trades} trades" if trades is not None else "an unknown number of trades"
        return [_finding("caution", "sample_size", f"{name}: Sharpe {st['sharpe']:.2f}{error} from {why} in a {span}; "
                                                   "too little data to trust it.")]


def _folds(scored: int | None) -> str:
    """What a walk-forward mean is over: the folds scored on both sides, where the report says how many."""
    if scored is None:  # a report or mart from before scored_folds
        return "mean over walk-forward folds"
    return f"means over the same {scored} fold{'' if scored == 1 else 's'} scored on both sides"


def sharpe_standard_error(sharpe_annual: float, n_periods: int | None, periods_per_year: float | None) -> float | None:
    """Annualised standard error of an annualised Sharpe ratio (Lo 2002, iid returns):
    per period SR = SR_a / sqrt(P), SE = sqrt((1 + SR^2 / 2) / n), annualised by sqrt(P)."""
    if not n_periods or not periods_per_year or n_periods < 2:
        return None
    per_period = sharpe_annual / math.sqrt(periods_per_year)
    return math.sqrt((1 + per_period ** 2 / 2) / n_periods) * math.sqrt(periods_per_year)


def _multiple_testing_findings(ranking: list[dict[str, Any]]) -> list[dict[str, str]]:
    """No design significant after the trials: the best deflated Sharpe, or n/a where none has one
    (flat or too-short designs store NULL, which is no evidence either way, not a Sharpe of 0)."""
    if not ranking:
        return []
    scored = [r for r in ranking if _dsr_is_score(r)]
    best = max(scored, key=lambda r: r["deflated_sharpe"]) if scored else ranking[0]
    dsr, trials = (best["deflated_sharpe"] if scored else None), best.get("n_trials_total")
    after = "after an unknown number of trials" if trials is None else f"after {_fmt(trials)} trials"
    if dsr is None:
        return [_finding("caution", "multiple_testing", f"no designed strategy can be called significant {after}: "
                                                        "the deflated Sharpe is n/a (not available) for every design "
                                                        "with enough out-of-sample trades.")]
    if dsr >= SIGNIFICANT_DSR:
        return []
    return [_finding("caution", "multiple_testing", f"no designed strategy is significant {after}: best deflated "
                                                    f"Sharpe {_fmt(dsr)} ({best.get('design_key')}) < {SIGNIFICANT_DSR}.")]


def _search_findings(search: dict[str, Any] | None) -> list[dict[str, str]]:
    """The day's whole search overfit (its PBO >= 0.5): what it liked best in sample does not hold out of sample."""
    if not search or search.get("search_pbo") is None or search["search_pbo"] < 0.5:
        return []
    return [_finding("caution", "overfitting", f"the day's search looks like it fits noise: PBO {_fmt(search['search_pbo'])} "
                                               f"over {_fmt(search['n_trials'])} trials of {_fmt(search['n_designs'])} designs "
                                               "(its in-sample favourite ranks at or below the median out of sample that often).")]


def _dsr_is_score(row: dict[str, Any]) -> bool:
    """Whether a design's deflated Sharpe counts: it has one and the ranker scored it by it (a design with
    fewer than min_trades out-of-sample trades scores 0 whatever its DSR: 0.99 on one trade is no evidence)."""
    dsr = row.get("deflated_sharpe")
    return dsr is not None and row.get("score", dsr) == dsr


def _models_vs_baselines(report: dict[str, Any]) -> dict[str, tuple[str, float, float]]:
    """model -> (metric, model's out-of-sample loss, its baseline's), for models scored beside a baseline: log_loss
    for a classifier, rmse for a regression, both lower-is-better."""
    pairs: dict[str, dict[str, dict[str, Any]]] = {}
    for m in report.get("ml", {}).get("models", []):
        pairs.setdefault(m["model"], {})[m["scorer"]] = m
    out = {}
    for name, pair in pairs.items():
        model, base = pair.get("model"), pair.get("baseline")
        if not model or not base:
            continue
        metric = "log_loss" if model.get("log_loss") is not None else "rmse"
        if model.get(metric) is not None and base.get(metric) is not None:
            out[name] = (metric, model[metric], base[metric])
    return out


def _reused_versions(report: dict[str, Any]) -> dict[str, str]:
    """model -> a clause naming the day that trained it, for a model the day reused: its scores are that
    day's walk-forward, not a score of the reused model on the days since."""
    return {m["model"]: f" (scores of its training on {m['trained_on']}, reused today)"
            for m in report.get("ml", {}).get("models", []) if m.get("reused") and m.get("trained_on")}


def _ml_contradictions(top: list[dict[str, Any]], models: dict[str, tuple[str, float, float]]) -> list[dict[str, str]]:
    """A top-ranked ML strategy whose models all lose to their baselines out of sample."""
    out = []
    for rank, st in enumerate(top, start=1):
        if st.get("kind") != "ml":
            continue
        source = str(st["strategy"]).removeprefix("ml_")
        # a model's strategy rests on that model; an ensemble's on its members (ensembles.MEMBERS), each by its own
        # metric: log_loss and rmse are both losses, lower is better, so "loses" is model >= baseline for either
        behind = {source: models[source]} if source in models else {
            k: models[k] for k in ENSEMBLE_MEMBERS if k in models} if source.startswith("ensemble") else {}
        if behind and all(m >= b for _, m, b in behind.values()):
            scores = ", ".join(f"{k} {metric} {_fmt(m)} vs {_fmt(b)}" for k, (metric, m, b) in sorted(behind.items()))
            out.append(_finding("caution", "contradiction",
                                f"{st['strategy']} on {st['symbol']} ranks #{rank} among strategies, yet every model "
                                f"behind it loses to its naive baseline out of sample ({scores}): its backtest "
                                "profit is more likely luck than skill."))
    return out


def _fmt(v: Any) -> str:
    return "n/a" if v is None else fmt.compact(v, 3) if isinstance(v, float) else str(v)


def prompt_numbers(report: dict[str, Any]) -> dict[str, Any]:
    """What the LLM sees: the report's numbers with the names and ids that say what each is about (symbols,
    strategies, models, designs, parameters) and the product's own reason texts (a design's status_reason);
    no secrets, and no user-written text: a research design's spec JSON (its description is whatever the
    spec's author wrote, a way to instruct the LLM) is left out, and of a failed check only its asset and
    check name (strategy_files_all_valid's description quotes the keys and values of a user's spec file). Of
    the overfitting section the numbers only (the designs' PBO and the day's search PBO, which the
    deterministic analyst reads too), not its fixed explanations."""
    keep = ("report_date", "symbols", "strategies", "walk_forward", "ml")
    over, research = report.get("overfitting") or {}, report.get("research") or {}
    checks = [{k: c.get(k) for k in PROMPT_CHECK_KEYS} for c in report.get("failed_checks") or []]
    return {**{k: report.get(k) for k in keep}, "failed_checks": checks,
            "research": {k: _without(PROMPT_LEFT_OUT, v) for k, v in research.items()},
            "overfitting": {"designs": over.get("designs", []), "search": over.get("search")}}


def _without(keys: tuple[str, ...], value: Any) -> Any:
    """A list of rows without those keys; any other value as it is."""
    if not isinstance(value, list):
        return value
    return [{k: v for k, v in row.items() if k not in keys} if isinstance(row, dict) else row for row in value]


def plain_text(text: str) -> str:
    """text as the report can hold it: each lone surrogate (a reply's "\\ud800" JSON escape, which no UTF-8
    file can hold: the HTML's encode raised and the day's report failed) replaced by U+FFFD, and terminal
    escape sequences and control characters (NUL, ESC, ...; tab and newline kept) dropped."""
    return CONTROL.sub("", SURROGATE.sub("\ufffd", text))


def _text(v: Any) -> str | None:
    """v as plain_text, stripped, when that is a non-empty string, else None (the schema wants non-empty text)."""
    return (plain_text(v).strip() or None) if isinstance(v, str) else None


def _cap(text: str, limit: int) -> str:
    """text cut to at most limit characters, the cut marked with TRUNCATED."""
    return text if len(text) <= limit else text[:limit - len(TRUNCATED)] + TRUNCATED


def clean_reply(content: Any, scrub_text: Callable[[str], str]) -> dict[str, Any]:
    """The provider's {"summary", "findings"} as the report schema needs them, every word scrubbed (a
    provider that echoes a key must not put it in the report); a finding without a severity in SEVERITIES
    and a non-empty topic and text is dropped with a warning, a reply without a summary or findings list
    raises ValueError (retried, then the deterministic fallback)."""
    if not isinstance(content, dict) or _text(content.get("summary")) is None or not isinstance(content.get("findings"), list):
        raise ValueError("reply is not {\"summary\": non-empty str, \"findings\": list}")
    findings = []
    for f in content["findings"]:
        parts = [_text(f.get(k)) for k in ("severity", "topic", "text")] if isinstance(f, dict) else [None]
        if None not in parts and parts[0].lower() in SEVERITIES:
            # scrubbed before it is cut: a key across the cut would keep its prefix
            findings.append(_finding(parts[0].lower(), _cap(scrub_text(parts[1]), TOPIC_CHARS),
                                     _cap(scrub_text(parts[2]), FINDING_CHARS)))
    dropped = len(content["findings"]) - len(findings)
    warnings = [f"LLM review: dropped {dropped} of {len(content['findings'])} finding(s) without a severity in "
                f"{'|'.join(SEVERITIES)} and a non-empty topic and text"] if dropped else []
    if len(findings) > MAX_FINDINGS:
        warnings.append(f"LLM review: kept the first {MAX_FINDINGS} of {len(findings)} findings")
    return {"findings": findings[:MAX_FINDINGS], "summary": _cap(scrub_text(_text(content["summary"]) or ""), SUMMARY_CHARS),
            "warnings": warnings}


def post_json(req: urllib.request.Request, timeout: float) -> Any:
    """The JSON reply to req, read within timeout seconds in all (name resolution, connect, TLS handshake,
    status line, headers, body) and at most MAX_REPLY_BYTES long; TimeoutError past the deadline, ValueError
    over the cap, HTTPError on a redirect (not followed: see NoRedirect)."""
    deadline = Deadline(timeout)
    handlers = deadline_handlers(deadline)
    body = bytearray()
    try:
        with urllib.request.build_opener(NoRedirect, *handlers).open(req, timeout=timeout) as resp:
            while len(body) <= MAX_REPLY_BYTES and (chunk := resp.read1(65536)):
                body += chunk
            if len(body) <= MAX_REPLY_BYTES and resp.length:  # closed short of its Content-Length
                raise http.client.IncompleteRead(bytes(body), resp.length)
    except urllib.error.HTTPError as exc:
        exc.close()  # an error status or a redirect: its body is never read
        if not deadline.expired:
            raise
    except PROVIDER_ERRORS as exc:
        reason = getattr(exc, "reason", exc)  # a socket timeout (a TLS handshake's whole one) is the deadline's too
        if isinstance(reason, ResolveTimeout) or not (deadline.expired or isinstance(reason, TimeoutError)):
            raise
        deadline.expired = True
    finally:
        deadline.cancel()
    if deadline.expired:
        raise TimeoutError(f"no complete reply within {round(timeout, 2):g} s")
    if len(body) > MAX_REPLY_BYTES:
        raise ValueError(f"reply longer than {MAX_REPLY_BYTES:,} bytes")
    return json.loads(body.decode())


@dataclass
class OpenAICompatibleAnalyst:
    """POST {base_url}/chat/completions; on timeout, HTTP error or a malformed reply: retry, then
    fall back to the deterministic analyst with a warning (the key is never in that warning).
    timeout is each attempt's total (see post_json), not each socket read's; the review's whole time,
    pauses included, is timeout x attempts. A 429/503's Retry-After is waited when it fits in what is
    left of that, else the review stops retrying (said in the fallback's warning)."""

    base_url: str = field(repr=False)  # may hold user:password@
    model: str
    api_key: str = field(repr=False)
    timeout: float = 20.0
    retries: int = 2
    name: str = "openai_compatible"

    def _scrub(self, text: str) -> str:
        """text without the API key or the base URL's user:password@ (the URL itself, its userinfo, each part)."""
        userinfo = re.split(r"[/?#]", self.base_url.partition("://")[2], maxsplit=1)[0].rpartition("@")[0]
        return scrub(text, (self.api_key, self.base_url, userinfo, unquote(userinfo), *userinfo.split(":", 1),
                            *unquote(userinfo).split(":", 1)))

    def _call(self, report: dict[str, Any], timeout: float) -> dict[str, Any]:
        body = {"model": self.model, "temperature": 0, "messages": [
            {"role": "system", "content": "You are a quantitative research analyst. Review the daily report numbers. "
                                          "Reply with JSON: {\"summary\": str, \"findings\": [{\"severity\": "
                                          "\"info|caution|warning\", \"topic\": str, \"text\": str}]}. Quote numbers."},
            {"role": "user", "content": json.dumps(prompt_numbers(report), default=str)}]}
        if urlsplit(self.base_url).scheme.lower() not in ("http", "https"):
            raise ValueError("the base URL is not an http:// or https:// URL")
        target, basic = split_credentials(self.base_url)  # user:password@ as Basic auth, never in the host name
        auth = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else basic
        req = urllib.request.Request(target.rstrip("/") + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **auth})
        payload = post_json(req, timeout)
        content = json.loads(payload["choices"][0]["message"]["content"])
        return {"analyst": f"{self.name}:{self.model}", **clean_reply(content, self._scrub)}

    def review(self, report: dict[str, Any]) -> dict[str, Any]:
        error, tried, end = "no attempt", 0, time.monotonic() + self.timeout * (self.retries + 1)
        while tried <= self.retries and (left := end - time.monotonic()) > 0:
            tried += 1
            try:
                return self._call(report, min(self.timeout, left))
            except Exception as exc:  # noqa: BLE001 - a provider never fails the report: retried, then the fallback
                # scrubbed before it is cut: a BadStatusLine quotes whatever the endpoint sent, even our key
                error = plain_text(self._scrub(f"{type(exc).__name__}: {exc}"))[:ERROR_CHARS]
                log_event("llm_review_attempt_failed", attempt=tried, error=error)
                if tried <= self.retries:
                    wait, why_not = next_wait(exc, tried, end - time.monotonic(), backoff_cap=2.0)
                    if wait is None:
                        error += f"; {why_not}"
                        break
                    _pause(wait)
        fallback = DeterministicAnalyst().review(report)
        fallback["warnings"].append(f"LLM review failed after {tried} attempt(s) ({error}); "
                                    "the deterministic analyst wrote this review")
        return fallback


def analyst_from_env() -> Analyst:
    """The OpenAI-compatible provider when BLOFIN_LLM_MODEL and BLOFIN_LLM_BASE_URL are set, else deterministic;
    deterministic with a warning naming the setting when one of the provider's is unusable (the day's report
    must not fail after the run's compute for its analyst's settings)."""
    try:
        if not llm_model():
            return DeterministicAnalyst()
        base = llm_base_url()
        return OpenAICompatibleAnalyst(base, llm_model(), llm_api_key(), llm_timeout_s()) if base else DeterministicAnalyst()
    except SettingError as exc:
        log_event("llm_review_setting_unusable", error=str(exc))
        return DeterministicAnalyst(notes=(f"LLM review not attempted: {exc}; the deterministic analyst wrote this review",))
