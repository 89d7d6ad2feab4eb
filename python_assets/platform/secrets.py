"""The secrets this project may be given (exchange keys, the LLM key, a webhook URL with a token), read
only from the environment, and a scrubber that blanks their values out of any text before it is logged
or written, so an exception or a provider that echoes a key cannot leak it."""

from __future__ import annotations

from python_assets.config import secret_settings

MIN_SECRET_LEN = 6  # shorter values would blank ordinary words


def secret_values() -> list[str]:
    """The secret values set in the environment now, longest first."""
    values = {v for v in secret_settings() if len(v) >= MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


def scrub(text: str, extra: tuple[str, ...] = ()) -> str:
    """text with every secret value (and the extra ones) replaced by ***."""
    for value in [*extra, *secret_values()]:
        if value:
            text = text.replace(value, "***")
    return text
