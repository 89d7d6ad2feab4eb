"""dbt's Jinja templates compiled once, kept as Python code objects in the project's target dir.

dbt compiles every template it renders from its text in each call: each macro it calls (~200 in a daily
build) and each node's SQL, a new Jinja environment each time (lexing, parsing, code generation and
Python's compile): ~1 s of a day's warehouse build and ~0.5 s of its results call, by py-spy. Jinja's code
for a template depends on its text and on the environment: its class and parser, extensions, filters and
tests (constant folding calls them at compile time; how each takes its arguments shapes the calls), its
`undefined` (folding returns what it makes), policies and syntax options, and the versions of Jinja,
MarkupSafe, dbt-common and Python. The key hashes all of it; a filter is known there by its name and
compiled code (a closure's captured values or a callable object's state are not seen: dbt's filters have
neither). Only the environments dbt renders with at run time are kept: jinja2's own Undefined (dbt's
parse-time one answers an attribute of itself with itself, so folding there gives values the run-time one
refuses), the extensions dbt adds, no callable option or policy; any other is compiled as before. Each
entry carries a digest of its bytes, checked before it is loaded: a damaged file is compiled again. The
folder must be the user's own and not writable by others (the code runs outside Jinja's sandbox, like a
.pyc; checked once, when the patch is installed); else nothing is kept. Nothing is kept while dbt's
DBT_MACRO_DEBUGGING writes templates out (it changes the file name compiled into the code).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Any

KEEP_FILES = 4_000  # a folder beyond this many entries drops its older half (edited templates leave old ones)
OPTIONS = ("block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
           "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
           "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized", "is_async",
           "autoescape", "finalize", "sandboxed", "intercepted_binops", "intercepted_unops")
KNOWN_EXTENSIONS = frozenset({"jinja2.ext.ExprStmtExtension", "jinja2.ext.LoopControlExtension",
                              "dbt_common.clients.jinja.MaterializationExtension",
                              "dbt_common.clients.jinja.DocumentationExtension",
                              "dbt_common.clients.jinja.TestExtension"})
DIGEST = 32  # bytes of sha256 before each entry's marshal payload


def described(function: Any) -> str:
    """A filter's or test's implementation as text that another process gives too: its name, how Jinja passes
    it arguments and, for a Python function (a lambda among them), its compiled code."""
    from jinja2.utils import _PassArg

    target = function.func if isinstance(function, partial) else function
    text = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', type(target).__qualname__)}"
    code = getattr(target, "__code__", None)
    if code is not None:
        text += ":" + hashlib.sha256(marshal.dumps(code)).hexdigest()[:16]
    if isinstance(function, partial):
        text += f":{function.args!r}:{sorted(function.keywords.items())!r}"
    return f"{text}:{_PassArg.from_obj(function)}"


def environment_key(env: Any) -> str | None:
    """What Jinja's code for a template depends on besides its text, as text; None where it cannot be told
    apart or is not one dbt renders with at run time (see the module's docstring)."""
    import dbt_common.__about__
    import jinja2

    options = [(name, getattr(env, name, None)) for name in OPTIONS]
    extensions = sorted(env.extensions)
    if (env.undefined is not jinja2.Undefined or any(callable(value) for _, value in options)
            or any(callable(value) for value in env.policies.values()) or not set(extensions) <= KNOWN_EXTENSIONS):
        return None
    kind = type(env)
    return repr((f"{kind.__module__}.{kind.__qualname__}", extensions,
                 sorted((name, described(f)) for name, f in env.filters.items()),
                 sorted((name, described(f)) for name, f in env.tests.items()), options,
                 sorted((name, repr(value)) for name, value in env.policies.items()),
                 jinja2.__version__, version("markupsafe"), dbt_common.__about__.version, sys.version,
                 MAGIC_NUMBER.hex()))


def fingerprint(env: Any) -> tuple:
    """What tells one environment's make-up from another's within this process, cheaply (the functions by
    identity): environment_key is computed once per fingerprint."""
    return (type(env), env.undefined, tuple((n, id(f)) for n, f in env.filters.items()),
            tuple((n, id(f)) for n, f in env.tests.items()), tuple(env.extensions),
            tuple(getattr(env, name, None) for name in OPTIONS), repr(env.policies))


def template_key(env_key: str, source: str, name: str | None, filename: str | None, defer_init: bool) -> str:
    """The cache key of one template compiled in an environment of env_key."""
    text = "\0".join((env_key, repr((name, filename, defer_init)), source))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def read_code(path: Path) -> CodeType | None:
    """The code object kept at path, or None (absent, unreadable, damaged: its digest differs)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    payload = data[DIGEST:]
    if len(data) <= DIGEST or hashlib.sha256(payload).digest() != data[:DIGEST]:
        return None
    try:
        code = marshal.loads(payload)
    except Exception:  # noqa: BLE001 - whatever marshal makes of bytes it did not write: compile again
        return None
    return code if isinstance(code, CodeType) else None


def write_code(path: Path, code: CodeType) -> None:
    """Keep code at path (written aside, then renamed: a reader never sees part of it); a failure is ignored.
    Not lake.atomic.write_bytes_atomic: it fsyncs each file (a cold folder takes ~800 in one call) for a cache
    entry whose loss costs one compile, and whose digest catches a torn write."""
    payload = marshal.dumps(code)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_bytes(hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def prune(folder: Path, keep: int = KEEP_FILES, now: float | None = None) -> None:
    """Drop the older half of folder's entries when it holds more than keep, and what a killed writer left
    aside (a .tmp over an hour old)."""
    now = time.time() if now is None else now
    try:
        paths = list(folder.iterdir())
    except OSError:
        return
    entries = []
    for path in paths:
        try:  # each on its own: another process may rename or drop an entry meanwhile
            stamp = path.stat().st_mtime
            if path.suffix == ".code":
                entries.append((stamp, path))
            elif path.suffix == ".tmp" and now - stamp > 3600:
                path.unlink(missing_ok=True)
        except OSError:
            continue
    if len(entries) > keep:
        for _, path in sorted(entries)[: len(entries) // 2]:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                continue


def private(folder: Path) -> bool:
    """Whether folder is the user's own and writable by no one else."""
    try:
        status = folder.stat()
    except OSError:
        return False
    return status.st_uid == os.getuid() and not status.st_mode & 0o022


def kept_compile(original: Callable, folder: Path) -> Callable:
    """A Jinja Environment.compile that returns the code kept in folder for a template's key, compiling
    (with original) and keeping it where there is none."""
    import jinja2
    from dbt_common.clients import jinja as dbt_jinja

    keys: dict[tuple, str | None] = {}

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):  # noqa: ANN001, ANN202, A001
        if (raw or not isinstance(source, str) or dbt_jinja.MACRO_DEBUGGING
                or self.undefined is not jinja2.Undefined):  # before the memo: dbt makes one class per parse render
            return original(self, source, name, filename, raw, defer_init)
        try:
            seen = fingerprint(self)
            env_key = keys[seen] if seen in keys else keys.setdefault(seen, environment_key(self))
        except TypeError:  # an option that cannot be hashed: nothing dbt sets
            env_key = None
        if env_key is None:
            return original(self, source, name, filename, raw, defer_init)
        path = folder / f"{template_key(env_key, source, name, filename, defer_init)}.code"
        code = read_code(path)
        if code is None:
            code = original(self, source, name, filename, raw, defer_init)
            write_code(path, code)
        return code

    compile.kept_code = True
    return compile


def install(folder: Path) -> None:
    """Make dbt's Jinja environments (MacroFuzzEnvironment and its native subclass) compile each template
    through the code objects kept in folder, where folder is private (or can be made so). dbt without that
    class (another version) is left as it is."""
    from dbt_common.clients import jinja as dbt_jinja

    env_class = getattr(dbt_jinja, "MacroFuzzEnvironment", None)
    if env_class is None or getattr(env_class.compile, "kept_code", False):
        return
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return
    if not private(folder):
        return
    prune(folder)
    env_class.compile = kept_compile(env_class.compile, folder)
