"""dbt's Jinja templates compiled once and kept as code (dagster_defs/dbt/jinja_code.py): the kept code renders as
Jinja's own, and a key tells apart whatever Jinja's code depends on."""

from __future__ import annotations

import os

import jinja2
import pytest
from dbt_common.clients import jinja as dbt_jinja

from dagster_defs.dbt import jinja_code

TEMPLATE = """
{%- set rows = [] -%}
{%- for x in values if x is not none -%}{%- do rows.append(x * 2) -%}{%- endfor -%}
select {{ names | map('upper') | join(', ') }} as names, {{ rows | tojson }} as doubled,
{%- if flag %} 'on'{% else %} 'off'{% endif %} as flag, {{ "%.3f" | format(ratio) }} as ratio
"""
CONTEXT = {"values": [1, None, 3], "names": ["a", "b"], "flag": True, "ratio": 2 / 3}


def counted(original):  # noqa: ANN001, ANN201 - Jinja's compile
    """original, counting its calls."""
    def compile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202, A001
        compile.calls += 1
        return original(*args, **kwargs)

    compile.calls = 0
    return compile


def render(env: jinja2.Environment, code) -> str:  # noqa: ANN001 - a code object
    return env.template_class.from_code(env, code, env.make_globals(None), None).render(CONTEXT)


def test_a_template_is_compiled_once_and_its_kept_code_renders_as_jinjas_own(tmp_path):
    env = dbt_jinja.get_environment()
    plain = env.from_string(TEMPLATE).render(CONTEXT)
    assert "A, B" in plain and "[2, 6]" in plain and "0.667" in plain
    original = counted(jinja2.Environment.compile)
    compile = jinja_code.kept_compile(original, tmp_path)
    first = compile(env, TEMPLATE)
    assert original.calls == 1 and len(list(tmp_path.glob("*.code"))) == 1
    again = compile(dbt_jinja.get_environment(), TEMPLATE)  # a new environment of the same make-up, as dbt makes
    assert original.calls == 1  # read from the file
    assert render(env, first) == render(env, again) == plain
    compile(env, TEMPLATE + " ")  # another text, another entry
    assert original.calls == 2 and len(list(tmp_path.glob("*.code"))) == 2


def test_the_key_tells_apart_the_environments_whose_code_differs():
    text, native = dbt_jinja.get_environment(), dbt_jinja.get_environment(native=True)
    key = jinja_code.environment_key
    assert key(text) == key(dbt_jinja.get_environment()) and key(text) != key(native)
    added = dbt_jinja.get_environment()
    added.filters["shout"] = str.upper
    assert key(added) != key(text)
    swapped = dbt_jinja.get_environment()
    swapped.filters["shout"] = jinja2.pass_context(lambda ctx, v: v)  # same name, takes the context: other code
    assert key(swapped) != key(added)
    trimmed = dbt_jinja.get_environment()
    trimmed.trim_blocks = True
    assert key(trimmed) != key(text)
    finalized = dbt_jinja.get_environment()
    finalized.finalize = str
    assert key(finalized) is None  # a callable option: not kept


def test_a_damaged_entry_is_compiled_again_and_replaced(tmp_path):
    env = dbt_jinja.get_environment()
    original = counted(jinja2.Environment.compile)
    compile = jinja_code.kept_compile(original, tmp_path)
    compile(env, TEMPLATE)
    (entry,) = tmp_path.glob("*.code")
    entry.write_bytes(b"not a code object")
    code = compile(env, TEMPLATE)
    assert original.calls == 2 and render(env, code) == env.from_string(TEMPLATE).render(CONTEXT)
    assert jinja_code.read_code(entry) is not None


def test_nothing_is_kept_while_dbt_writes_templates_out_for_debugging(tmp_path, monkeypatch):
    monkeypatch.setattr(dbt_jinja, "MACRO_DEBUGGING", "write")
    original = counted(jinja2.Environment.compile)
    jinja_code.kept_compile(original, tmp_path)(dbt_jinja.get_environment(), "select 1")
    assert original.calls == 1 and list(tmp_path.iterdir()) == []


def test_a_syntax_error_is_raised_as_jinjas_and_nothing_is_kept(tmp_path):
    compile = jinja_code.kept_compile(jinja2.Environment.compile, tmp_path)
    with pytest.raises(jinja2.TemplateSyntaxError):
        compile(dbt_jinja.get_environment(), "{% if %}")
    assert list(tmp_path.iterdir()) == []


def test_a_full_folder_drops_its_older_half(tmp_path):
    for i in range(10):
        path = tmp_path / f"{i}.code"
        path.write_bytes(b"")
        os.utime(path, (1_000 + i, 1_000 + i))
    jinja_code.prune(tmp_path, keep=6)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{i}.code" for i in range(5, 10)]
    jinja_code.prune(tmp_path, keep=6)  # under the bound: left alone
    assert len(list(tmp_path.iterdir())) == 5
