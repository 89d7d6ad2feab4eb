"""The rules of the rooms, checked on the source: python_assets never imports Dagster or dagster_defs,
neither python_assets nor dagster_defs imports the CLI (blofin_cli), only python_assets/config.py
touches the environment, and importing a module reads no setting."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("python_assets", "dagster_defs", "blofin_cli")
CONFIG = "python_assets/config.py"
DAGSTER_ROOTS = ("dagster", "dagster_defs")  # dagster_dbt, dagster_webserver, ... count as dagster too
CLI_ROOT = "blofin_cli"
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def _is_dagster(module: str) -> bool:
    """Whether a dotted module name is Dagster's or our wiring package's."""
    root = module.split(".")[0]
    return root in DAGSTER_ROOTS or root.startswith("dagster_")


def _is_cli(module: str) -> bool:
    """Whether a dotted module name is the command line package's."""
    return module.split(".")[0] == CLI_ROOT


def imports_matching(tree: ast.AST, match: Callable[[str], bool]) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of a module that match() accepts, at any depth, in any form."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if match(a.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and match(node.module):
            yield node.lineno, node.module
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and match(node.args[0].value)
              and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")):
            yield node.lineno, node.args[0].value


def dagster_imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of dagster or dagster_defs, at any depth, in any form."""
    return imports_matching(tree, _is_dagster)


def environment_uses(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, what) for every os.environ / os.getenv / os.putenv use or import of them from os."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENV_NAMES:
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "posix", "nt"):
            yield from ((node.lineno, f"from {node.module} import {a.name}") for a in node.names
                        if a.name in ENV_NAMES or a.name == "*")
        elif isinstance(node, ast.Name) and node.id in ("getenv", "environ"):
            yield node.lineno, node.id


def offenders(relative: str, source: str) -> list[str]:
    """'path:line: what' for each rule a module's source breaks."""
    tree = ast.parse(source, filename=relative)
    found = []
    if relative.startswith("python_assets/"):
        found += [f"{relative}:{line}: imports {mod}" for line, mod in dagster_imports(tree)]
    if not relative.startswith(f"{CLI_ROOT}/"):
        found += [f"{relative}:{line}: imports {mod}; only the CLI may" for line, mod in imports_matching(tree, _is_cli)]
    if relative != CONFIG:
        found += [f"{relative}:{line}: reads the environment ({what}); only {CONFIG} may"
                  for line, what in environment_uses(tree)]
    return found


def package_sources() -> list[Path]:
    """Every .py file of python_assets/, dagster_defs/ and blofin_cli/."""
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def test_python_assets_import_no_dagster_and_only_config_reads_the_environment():
    found = [o for p in package_sources() for o in offenders(p.relative_to(REPO).as_posix(), p.read_text())]
    assert len(package_sources()) > 50  # the walk found the packages
    assert {p.relative_to(REPO).parts[0] for p in package_sources()} == set(PACKAGES)
    assert not found, "\n".join(found)


def test_the_checker_reports_every_form_of_a_forbidden_import_or_environment_read():
    bad = "\n".join([
        "import os", "import dagster as dg", "from dagster_defs.resources import dbt_executable",
        "from os import environ, getenv", "import dagster_dbt",
        "def f():", "    import dagster_defs.partitions", "    return os.environ.get('X'), os.getenv('Y')",
        "def g():", "    os.putenv('X', '1')", "    return importlib.import_module('dagster')",
    ])
    found = offenders("python_assets/bad.py", bad)
    assert [o.split(": ", 1)[0] for o in found if "imports" in o] == [
        f"python_assets/bad.py:{n}" for n in (2, 3, 5, 7, 11)]
    assert {o.split(": ", 1)[0] for o in found if "reads the environment" in o} == {
        f"python_assets/bad.py:{n}" for n in (4, 8, 10)}
    assert offenders("dagster_defs/ok.py", "import dagster as dg\nfrom python_assets import config") == []
    assert offenders(CONFIG, "import os\nx = os.environ.get('X')") == []
    assert offenders("dagster_defs/bad.py", "import os\nx = os.environ['X']") != []


def test_the_checker_reports_an_import_of_the_cli_outside_it():
    bad = "\n".join(["import blofin_cli.main", "from blofin_cli.errors import fail_clearly",
                     "def f():", "    return importlib.import_module('blofin_cli.pipeline')"])
    for package in ("dagster_defs", "python_assets"):
        found = offenders(f"{package}/bad.py", bad)
        assert [o.split(": ", 1)[0] for o in found] == [f"{package}/bad.py:{n}" for n in (1, 2, 4)]
    assert offenders("blofin_cli/ok.py", bad + "\nfrom dagster_defs.runner import materialize_days") == []


# Imported with os.environ replaced by a recorder of the BLOFIN_* settings our code reads (a read made
# within a few frames of python_assets/, dagster_defs/ or blofin_cli/ code: libraries that copy the whole environment
# at import are not reading a setting), then a control read (config.paths()) that proves the recorder
# sees reads. Modules that build the Dagster Definitions (definitions.py and the asset modules) read
# settings then, by design, and are left out.
IMPORT_PROBE = r"""
import collections.abc, importlib, json, os, pkgutil, sys

OURS = tuple(os.path.join(os.getcwd(), pkg) + os.sep for pkg in ("python_assets", "dagster_defs", "blofin_cli"))

class Recorder(collections.abc.MutableMapping):
    def __init__(self, env): self.env, self.read = env, set()
    def _note(self, key):
        frame = sys._getframe(2)
        for _ in range(3):
            if frame is None:
                return
            if str(key).startswith("BLOFIN_") and frame.f_code.co_filename.startswith(OURS):
                self.read.add(str(key))
            frame = frame.f_back
    def __getitem__(self, key): self._note(key); return self.env[key]
    def __contains__(self, key): self._note(key); return key in self.env
    def __setitem__(self, key, value): self.env[key] = value
    def __delitem__(self, key): del self.env[key]
    def __iter__(self): return iter(self.env)
    def __len__(self): return len(self.env)
    def copy(self): return dict(self.env)

os.environ = recorder = Recorder(os.environ)
for pkg in ("python_assets", "dagster_defs", "blofin_cli"):
    for info in pkgutil.walk_packages(importlib.import_module(pkg).__path__, pkg + "."):
        if info.name != "dagster_defs.definitions" and not info.name.endswith(".assets"):
            importlib.import_module(info.name)
at_import = sorted(recorder.read)
import python_assets.config
python_assets.config.paths()
print(json.dumps({"at_import": at_import, "control": sorted(recorder.read)}))
"""


def test_importing_a_module_reads_no_setting():
    proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "BLOFIN_DATA_DIR" in result["control"]  # the recorder sees a read made by a call
    assert result["at_import"] == [], f"settings read at import: {result['at_import']}"


def test_only_the_dagster_dbt_resource_runs_dbt():
    """dbt writes the warehouse only as a Dagster asset (one writer per model): no module but the resource
    module names the dbt executable, so neither the CLI nor python_assets starts dbt of its own."""
    starters = sorted(p.relative_to(REPO).as_posix() for p in package_sources()
                      if "dbt_executable(" in p.read_text() and p.relative_to(REPO).as_posix() != CONFIG)
    assert starters == ["dagster_defs/resources.py"]
