"""Strategy spec files: one YAML file read into a validated StrategySpec (duplicate keys and aliases refused),
a strategies folder read file by file (a bad file is left out with one line, never stopping the others), and
the shipped catalog looked up by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from python_assets.backtest.spec import SpecError, StrategySpec, instance_id, resolve_params, spec_from_dict

STRATEGY_DIR = Path(__file__).resolve().parent / "strategies"


class _SpecLoader(yaml.SafeLoader):
    """safe_load without duplicate keys (the last one silently won) and without aliases (a 418-byte file of
    nested aliases expanded to a 136M-character description)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor} is not allowed in a spec: "
                                              "write the value out", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        keys = [(self.construct_object(k, deep=deep), k.start_mark) for k, _ in node.value]
        for i, (key, mark) in enumerate(keys):
            if any(key == other for other, _ in keys[:i]):
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_str(self, node):
        """A string with its escaped surrogate pairs joined ("\\ud83d\\ude80" is one emoji, as JSON reads it;
        PyYAML kept two lone surrogates); a lone one stays, for validation to refuse."""
        text = super().construct_yaml_str(node)
        try:
            return text.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            return text


_SpecLoader.add_constructor("tag:yaml.org,2002:str", _SpecLoader.construct_yaml_str)


def load_spec(path: Path, columns: frozenset[str] | None = None) -> StrategySpec:
    """One YAML file as a validated spec."""
    try:
        raw = yaml.load(Path(path).read_bytes().decode("utf-8"), Loader=_SpecLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:  # one line: the problem and where (str(exc) quotes the text over lines)
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise SpecError(f"{path}: not valid YAML: {' '.join(filter(None, (exc.context, exc.problem)))}{where}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return spec_from_dict(raw, columns)
    except SpecError as exc:
        raise SpecError(f"{Path(path).name}: {exc}") from None


@dataclass(frozen=True)
class SpecFolder:
    """A strategies folder read file by file: the specs that validate by name (active or not) and, per file
    left out, one line naming it and the problem; so one bad user file never stops the folder's other specs."""

    specs: dict[str, StrategySpec]
    left_out: dict[str, str] = field(default_factory=dict)  # file name -> the line saying why

    @property
    def active(self) -> dict[str, StrategySpec]:
        """The specs the daily steps use (publish, backtests, research): the active ones."""
        return {k: s for k, s in self.specs.items() if s.active}

    @property
    def lines(self) -> list[str]:
        """One line per problem (a clash of two files is one line naming both)."""
        return list(dict.fromkeys(self.left_out.values()))


def _folder_file(path: Path, columns: frozenset[str] | None) -> StrategySpec | str:
    """A folder file's spec, or one line naming the file and why it is left out: any error, since a user
    file may hold anything (a list where a mapping belongs raised AttributeError and named no file)."""
    try:
        return load_spec(path, columns)
    except SpecError as exc:
        line = str(exc) if str(exc).startswith((path.name, str(path))) else f"{path.name}: {exc}"
    except Exception as exc:  # noqa: BLE001 - reported as the file's line, the other files still load
        line = f"{path.name}: {type(exc).__name__}: {exc}"
    return " ".join(line.replace(str(path), path.name, 1).split())  # one line: YAML errors span several


def _clashes(files: dict[str, StrategySpec]) -> dict[str, str]:
    """{file: line} for files whose spec name or default instance id (the strategy_id published) another
    file's spec has too: which one is meant cannot be told, so both are left out, the line naming both."""
    owners: dict[str, list[str]] = {}
    for fname, spec in files.items():
        for key in dict.fromkeys((spec.name, instance_id(spec, resolve_params(spec, {})))):
            owners.setdefault(key, []).append(fname)
    out: dict[str, str] = {}
    for key, fnames in owners.items():
        if len(fnames) > 1:
            line = (f"{' and '.join(fnames)}: both define strategy {key!r} (a name or the default parameters' "
                    "instance id): both left out, rename one")
            out.update({f: out.get(f, line) for f in fnames})
    return out


def spec_paths(directory: Path) -> list[Path]:
    """The folder's *.yaml/*.yml files, sorted, but hidden ones (an editor's .draft.yaml, .x.yaml.swp):
    code_fingerprint skips them, so one would trade without changing the code version naming the results."""
    return sorted(p for p in Path(directory).glob("*.y*ml") if not p.name.startswith("."))


def read_folder(directory: Path = STRATEGY_DIR, columns: frozenset[str] | None = None) -> SpecFolder:
    """Every *.yaml spec of a folder that validates (against `columns` when given), the rest left out with a line each."""
    loaded = {p.name: _folder_file(p, columns) for p in spec_paths(directory)}
    left_out = {f: v for f, v in loaded.items() if isinstance(v, str)}
    good = {f: v for f, v in loaded.items() if isinstance(v, StrategySpec)}
    left_out.update(_clashes(good))
    return SpecFolder({s.name: s for f, s in good.items() if f not in left_out}, dict(sorted(left_out.items())))


def load_specs(directory: Path = STRATEGY_DIR, columns: frozenset[str] | None = None) -> dict[str, StrategySpec]:
    """The active specs of a folder by name: what the daily steps (publish, backtests, research) use; a file
    that does not validate is left out (read_folder says why), an `active: false` one too."""
    return read_folder(directory, columns).active


def catalog_spec(name: str, directory: Path = STRATEGY_DIR) -> StrategySpec:
    """A shipped spec by name. The folder is read again only when a file in it changed: the research and
    portfolio steps look a spec up per design (reading and validating every YAML each time was ~70 ms)."""
    signature = tuple(_file_signature(p) for p in spec_paths(directory))
    return _catalog(str(directory), signature)[name]


def _file_signature(path: Path) -> tuple[str, int | None, int | None]:
    """(name, mtime_ns, size) of a folder file; no time or size where it cannot be stat'ed (a dangling
    symlink, a file deleted since the listing): read_folder leaves it out, and a bare stat raised
    FileNotFoundError, failing the research, portfolio and fill-stress steps."""
    try:
        st = path.stat()
    except OSError:
        return path.name, None, None
    return path.name, st.st_mtime_ns, st.st_size


@lru_cache(maxsize=4)
def _catalog(directory: str, signature: tuple) -> dict[str, StrategySpec]:
    """The valid specs of a folder whose files have the given (name, mtime, size) signature, inactive ones
    included: a design tuned before its spec was set inactive is still looked up."""
    return read_folder(Path(directory)).specs
