"""The secrets this project may be given (exchange keys, the LLM key, a webhook URL with a token), read
only from the environment, and a scrubber that blanks their values out of any text before it is logged
or written, so an exception or a provider that echoes a key cannot leak it.

What it catches: each value as given, stripped, repr/JSON escaped and URL-encoded, in any letter case, and
(values of MIN_ENCODED_LEN or more) base64 (standard and URL-safe, at any offset inside a longer base64
text) and hex. What it cannot: a value transformed otherwise (reversed, split, spaced out, re-encoded twice,
translated, paraphrased by an LLM); no scrubber can list every transformation."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote

from python_assets.config import secret_settings

MIN_SECRET_LEN = 6  # shorter values would blank ordinary words
MIN_ENCODED_LEN = 8  # case-insensitive, base64 and hex forms only for values this long


def spellings(value: str) -> set[str]:
    """value as given and as an error message or a log line may quote it: stripped, Python-repr escaped
    (a key ending in a newline shows as ...\\n in "Invalid header value b'Bearer ...\\n'"), JSON escaped
    and URL-encoded; for a value of MIN_ENCODED_LEN or more also base64 and hex (see encodings)."""
    out = {value, value.strip(), repr(value)[1:-1], json.dumps(value)[1:-1], quote(value, safe="")}
    if len(value.strip()) >= MIN_ENCODED_LEN:
        out |= encodings(value.strip().encode())
    return {v for v in out if len(v) >= MIN_SECRET_LEN}


def encodings(raw: bytes) -> set[str]:
    """raw in hex and in base64 (standard and URL-safe): whole, and the characters that stay the same
    wherever it starts inside a longer base64 text (as in Basic auth's base64 of 'user:key')."""
    out = {raw.hex()}
    for shift in range(3):
        text = base64.b64encode(bytes(shift) + raw).decode()
        whole = {text, text.rstrip("=")} if shift == 0 else set()
        # the first group holds the shift's filler bytes, a last partial group what follows the value
        core = text[4 if shift else 0:len(text) - (0 if (shift + len(raw)) % 3 == 0 else 4)]
        for form in whole | {core}:
            out |= {form, form.replace("+", "-").replace("/", "_")}
    return {v for v in out if len(v) >= MIN_ENCODED_LEN}


def secret_values() -> list[str]:
    """The secret values set in the environment now in every spelling, longest first."""
    values = set().union(*(spellings(v) for v in secret_settings()))
    return sorted(values, key=len, reverse=True)


def scrub(text: str, extra: tuple[str, ...] = ()) -> str:
    """text with every secret value (and the extra ones), in each of its spellings and any letter case,
    replaced by ***."""
    values = sorted(set().union(*(spellings(v) for v in extra if v)) | set(secret_values()), key=len, reverse=True)
    if not values:
        return text
    return re.sub("|".join(map(re.escape, values)), "***", text, flags=re.IGNORECASE)
