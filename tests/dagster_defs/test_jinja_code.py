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
    taking_context = dbt_jinja.get_environment()
    taking_context.filters["shout"] = jinja2.pass_context(lambda ctx, v: v)  # same name, other calls
    assert key(taking_context) != key(added)
    other_lambda = dbt_jinja.get_environment()
    other_lambda.filters["as_text"] = lambda x: str(x)  # same name, a lambda as dbt's own: another body
    assert key(other_lambda) != key(text)
    trimmed = dbt_jinja.get_environment()
    trimmed.trim_blocks = True
    assert key(trimmed) != key(text)
    policy = dbt_jinja.get_environment()
    policy.policies["truncate.leeway"] = 0  # folded at compile time by the truncate filter
    assert key(policy) != key(text)
    finalized = dbt_jinja.get_environment()
    finalized.finalize = str
    assert key(finalized) is None  # a callable option: not kept
    # dbt's parse-time environment: its Undefined answers an attribute of itself with itself, so Jinja's constant
    # folding gives a value where the run-time one raises: never kept (nor mixed up with the run-time code)
    assert key(dbt_jinja.get_environment(capture_macros=True)) is None
    i18n = dbt_jinja.get_environment()
    i18n.add_extension("jinja2.ext.i18n")
    assert key(i18n) is None  # an extension dbt does not add: its state is not in the key
    dumps = dbt_jinja.get_environment()
    dumps.policies["json.dumps_function"] = lambda value, **kw: "x"
    assert key(dumps) is None  # a callable policy: its repr names an address


def test_parse_time_renders_leave_nothing_behind_and_odd_options_compile_as_jinjas(tmp_path):
    """dbt makes an Undefined class (holding its node) per parse-time render: none is kept alive by the memo."""
    import gc
    import weakref

    compile = jinja_code.kept_compile(jinja2.Environment.compile, tmp_path)
    classes = []
    for _ in range(20):
        env = dbt_jinja.get_environment(capture_macros=True)
        compile(env, "select {{ x }}")
        classes.append(weakref.ref(env.undefined))
        del env
    gc.collect()
    assert [c for c in classes if c() is not None] == [] and list(tmp_path.iterdir()) == []
    unhashable = dbt_jinja.get_environment()
    unhashable.intercepted_binops = {"+"}  # a set, where Jinja's default is a frozenset
    assert render(unhashable, compile(unhashable, "{{ 1 + 2 }}")) == "3"


def test_environments_of_one_class_and_other_options_get_their_own_code_in_one_process(tmp_path):
    compile = jinja_code.kept_compile(jinja2.Environment.compile, tmp_path)
    source = "{% if true %}\nx\n{% endif %}\ny"
    plain = dbt_jinja.get_environment()
    trimmed = dbt_jinja.get_environment()
    trimmed.trim_blocks = True
    assert render(plain, compile(plain, source)) == plain.from_string(source).render(CONTEXT) == "\nx\n\ny"
    assert render(trimmed, compile(trimmed, source)) == trimmed.from_string(source).render(CONTEXT) == "x\ny"
    upper, lower = dbt_jinja.get_environment(), dbt_jinja.get_environment()
    upper.filters["shout"], lower.filters["shout"] = str.upper, str.lower
    folded = '{{ "AbC" | shout }}'  # folded at compile time
    assert render(upper, compile(upper, folded)) == "ABC" and render(lower, compile(lower, folded)) == "abc"


def test_the_parse_time_environment_is_compiled_as_dbt_compiles_it(tmp_path):
    """A constant that folds to a value under dbt's parse-time Undefined and raises at run time: the run-time
    compile must not be handed the parse-time code (it was: a model plain dbt refuses built a wrong value)."""
    compile = counted(jinja2.Environment.compile)
    kept = jinja_code.kept_compile(compile, tmp_path)
    source = '{{ {"1m": 60000}.m5.ms | default("60000") }}'
    kept(dbt_jinja.get_environment(capture_macros=True), source)
    assert list(tmp_path.iterdir()) == []
    run_env = dbt_jinja.get_environment()
    with pytest.raises(jinja2.UndefinedError):
        render(run_env, kept(run_env, source))


@pytest.mark.parametrize("damage", ["garbage", "bit", "digest", "truncated"])
def test_a_damaged_entry_is_compiled_again_and_replaced(tmp_path, damage):
    env = dbt_jinja.get_environment()
    original = counted(jinja2.Environment.compile)
    compile = jinja_code.kept_compile(original, tmp_path)
    compile(env, TEMPLATE)
    (entry,) = tmp_path.glob("*.code")
    data = bytearray(entry.read_bytes())
    if damage == "garbage":
        data = bytearray(b"not a code object")
    elif damage == "bit":  # one bit of the payload: marshal could load it as other code, the digest tells
        data[len(data) // 2] ^= 0x04
    elif damage == "digest":
        data[3] ^= 0x01
    else:
        data = data[: len(data) // 3]
    entry.write_bytes(bytes(data))
    assert jinja_code.read_code(entry) is None
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


def test_a_full_folder_drops_its_older_half_and_what_killed_writers_left(tmp_path):
    for i in range(10):
        path = tmp_path / f"{i}.code"
        path.write_bytes(b"")
        os.utime(path, (1_000 + i, 1_000 + i))
    (tmp_path / "old.code.1.2.tmp").write_bytes(b"")
    os.utime(tmp_path / "old.code.1.2.tmp", (1_000, 1_000))
    (tmp_path / "new.code.1.2.tmp").write_bytes(b"")
    jinja_code.prune(tmp_path, keep=6, now=1_000 + 3_601)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["new.code.1.2.tmp", *(f"{i}.code" for i in range(5, 10))])
    jinja_code.prune(tmp_path, keep=6)  # under the bound: left alone
    assert len(list(tmp_path.glob("*.code"))) == 5
    for i in range(10, 13):
        (tmp_path / f"{i}.code").write_bytes(b"")
    (tmp_path / "gone.code").symlink_to(tmp_path / "nowhere")  # an entry that vanishes while prune lists
    jinja_code.prune(tmp_path, keep=6)
    assert len(list(tmp_path.glob("*.code"))) == 5  # the rest pruned all the same (8 entries, the older 4 dropped)


def test_nothing_is_kept_in_a_folder_others_can_write(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert not jinja_code.private(shared)
    shared.chmod(0o755)
    assert jinja_code.private(shared)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(shared).st_uid + 1)
    assert not jinja_code.private(shared)
