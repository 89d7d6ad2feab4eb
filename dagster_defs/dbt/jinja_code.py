"""dbt's Jinja templates compiled once, kept as Python code objects in the project's target dir.

dbt compiles every template it renders from its text in each call: each macro it calls (~200 in a daily
build) and each node's SQL, a new Jinja environment each time (lexing, parsing, code generation and
Python's compile): ~1 s of a day's warehouse build and ~0.5 s of its results call, by py-spy. The code
Jinja generates depends only on the template's text and on the environment's make-up (its class,
extensions, filters and tests and how each takes its arguments, its syntax options, Jinja's and Python's
versions), so a code object made once serves every later call whose key matches: the key hashes all of
it. A file that cannot be read or written is compiled as before; nothing is cached while dbt's
DBT_MACRO_DEBUGGING writes templates out (it changes the file name compiled into the code).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Any

KEEP_FILES = 4_000  # a folder beyond this many entries drops its older half (edited templates leave old ones)
OPTIONS = ("block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
           "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
           "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized", "is_async",
           "autoescape", "finalize", "sandboxed", "intercepted_binops", "intercepted_unops")


def environment_key(env: Any) -> str | None:
    """What Jinja's code for a template depends on besides its text, as text; None where an option is a
    callable (its code cannot be told apart)."""
    import jinja2
    from jinja2.utils import _PassArg

    options = [(name, getattr(env, name, None)) for name in OPTIONS]
    if any(callable(value) for _, value in options):
        return None

    def described(functions: dict[str, Any]) -> list[tuple[str, str, str]]:
        return sorted((name, f"{getattr(f, '__module__', '')}.{getattr(f, '__qualname__', type(f).__name__)}",
                       str(_PassArg.from_obj(f))) for name, f in functions.items())

    kind = type(env)
    return repr((f"{kind.__module__}.{kind.__qualname__}", sorted(env.extensions), described(env.filters),
                 described(env.tests), options, jinja2.__version__, sys.version, MAGIC_NUMBER.hex()))


def template_key(env_key: str, source: str, name: str | None, filename: str | None, defer_init: bool) -> str:
    """The cache key of one template compiled in an environment of env_key."""
    text = "\0".join((env_key, repr((name, filename, defer_init)), source))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def read_code(path: Path) -> CodeType | None:
    """The code object kept at path, or None (absent, unreadable, another Python's)."""
    try:
        code = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def write_code(path: Path, code: CodeType) -> None:
    """Keep code at path (written aside, then renamed: a reader never sees part of it); a failure is ignored."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(marshal.dumps(code))
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def prune(folder: Path, keep: int = KEEP_FILES) -> None:
    """Drop the older half of folder's entries when it holds more than keep."""
    try:
        entries = [(p.stat().st_mtime, p) for p in folder.iterdir() if p.suffix == ".code"]
        if len(entries) > keep:
            for _, path in sorted(entries)[: len(entries) // 2]:
                path.unlink(missing_ok=True)
    except OSError:
        pass


def kept_compile(original: Callable, folder: Path) -> Callable:
    """A Jinja Environment.compile that returns the code kept in folder for a template's key, compiling
    (with original) and keeping it where there is none."""
    from dbt_common.clients import jinja as dbt_jinja

    keys: dict[type, tuple[Any, str | None]] = {}

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):  # noqa: ANN001, ANN202, A001
        if raw or not isinstance(source, str) or dbt_jinja.MACRO_DEBUGGING:
            return original(self, source, name, filename, raw, defer_init)
        kind, shape = type(self), (tuple(self.filters), tuple(self.tests), tuple(self.extensions))
        if kind not in keys or keys[kind][0] != shape:
            keys[kind] = (shape, environment_key(self))
        env_key = keys[kind][1]
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
    through the code objects kept in folder. dbt without that class (another version) is left as it is."""
    from dbt_common.clients import jinja as dbt_jinja

    env_class = getattr(dbt_jinja, "MacroFuzzEnvironment", None)
    if env_class is None or getattr(env_class.compile, "kept_code", False):
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    prune(folder)
    env_class.compile = kept_compile(env_class.compile, folder)
