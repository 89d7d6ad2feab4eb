"""The secrets this project may be given (exchange keys, the LLM key, a webhook URL with a token), read
only from the environment, and a scrubber that blanks their values out of any text before it is logged
or written, so an exception or a provider that echoes a key cannot leak it."""

from __future__ import annotations

import json
from urllib.parse import quote

from python_assets.config import secret_settings

MIN_SECRET_LEN = 6  # shorter values would blank ordinary words


def spellings(value: str) -> set[str]:
    """value as given and as an error message or a log line may quote it: stripped, Python-repr escaped
    (a key ending in a newline shows as ...\\n in "Invalid header value b'Bearer ...\\n'"), JSON escaped
    and URL-encoded."""
    out = {value, value.strip(), repr(value)[1:-1], json.dumps(value)[1:-1], quote(value, safe="")}
    return {v for v in out if len(v) >= MIN_SECRET_LEN}


def secret_values() -> list[str]:
    """The secret values set in the environment now in every spelling, longest first."""
    values = set().union(*(spellings(v) for v in secret_settings()))
    return sorted(values, key=len, reverse=True)


def scrub(text: str, extra: tuple[str, ...] = ()) -> str:
    """text with every secret value (and the extra ones), in each of its spellings, replaced by ***."""
    for value in sorted(set().union(*(spellings(v) for v in extra if v)), key=len, reverse=True) + secret_values():
        text = text.replace(value, "***")
    return text
