"""Property-based tests (hypothesis) of what users type: ``--seeds`` lists, ``--param`` and
``--benchmark-option`` values, ``--algorithms`` labels, NB201 cell strings.  Valid input
round-trips; anything else is a one-line ``ValueError`` (or the documented ``KeyError`` /
``TypeError``), never another exception."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from benchbench.cli._common import MAX_SEEDS, parse_options, parse_params, parse_seeds, parse_value
from benchbench.cli.run import parse_algorithms
from benchbench.registry import OPTIMIZERS
from benchbench.spaces import NB201Space
from benchbench.spaces.nb201 import OPS
from benchbench.store import check_label

MAX_SEED = 2**63 - 1
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def one_line_error(e: BaseException) -> str:
    msg = str(e)
    assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
    return msg


# ---------------------------------------------------------------------------- seeds
@st.composite
def seed_ranges(draw: Any) -> tuple[str, list[int]]:
    """A ``--seeds`` text of disjoint ranges and single seeds (in any order, with optional
    spaces) and the seeds it names."""
    start = draw(st.integers(0, MAX_SEED))
    spans = []
    lo = start
    for gap, length in draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 30)),
                                     min_size=1, max_size=8)):
        lo = lo + gap
        hi = lo + length
        if hi > MAX_SEED:
            break
        spans.append((lo, hi))
        lo = hi + 1
    assume(spans)
    spans = draw(st.permutations(spans))
    sp = st.sampled_from(["", " ", "  "])
    parts = []
    for lo, hi in spans:
        if lo == hi and draw(st.booleans()):
            parts.append(f"{draw(sp)}{lo}{draw(sp)}")
        else:
            parts.append(f"{draw(sp)}{lo}{draw(sp)}-{draw(sp)}{hi}{draw(sp)}")
    return ",".join(parts), [s for lo, hi in spans for s in range(lo, hi + 1)]


@SETTINGS
@given(seed_ranges())
def test_seed_lists_round_trip(case: tuple[str, list[int]]) -> None:
    text, seeds = case
    assert parse_seeds(text) == seeds


def reference_seeds(text: str) -> list[int] | None:
    """An independent reading of the grammar: the seeds, or ``None`` if invalid."""
    out: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*([0-9]+)\s*(-\s*([0-9]+)\s*)?", part)
        if not m:
            return None
        lo = int(m.group(1))
        hi = int(m.group(3)) if m.group(3) else lo
        if hi < lo or hi > MAX_SEED or hi - lo + 1 + len(out) > MAX_SEEDS:
            return None
        out.extend(range(lo, hi + 1))
    return out if len(set(out)) == len(out) else None


SEEDISH = st.text(alphabet="0123456789-, \t+x_\n", max_size=30)


@SETTINGS
@given(st.one_of(SEEDISH, st.text(max_size=30)))
def test_any_seed_text_parses_as_the_grammar_says_or_is_one_line_value_error(text: str) -> None:
    want = reference_seeds(text)
    try:
        got = parse_seeds(text)
    except ValueError as e:
        assert one_line_error(e).startswith("bad seed list ")
        assert want is None, (text, want)
    else:
        assert got == want


@SETTINGS
@given(seed_ranges(), st.data())
def test_a_mutated_seed_list_is_a_list_or_one_line_value_error(case: tuple[str, list[int]],
                                                               data: Any) -> None:
    text = mutate(data, case[0], "0123456789-, x")
    try:
        got = parse_seeds(text)
    except ValueError as e:
        one_line_error(e)
        assert reference_seeds(text) is None
    else:
        assert got == reference_seeds(text)


@SETTINGS
@given(st.integers(MAX_SEEDS, 10**30), st.integers(0, 10**6))
def test_huge_seed_ranges_are_refused_without_being_built(n: int, lo: int) -> None:
    with pytest.raises(ValueError, match="more than 1,000,000 seeds|out of range|bad seed"):
        parse_seeds(f"{lo}-{lo + n}")


@SETTINGS
@given(st.integers(MAX_SEED + 1, 10**40))
def test_seeds_beyond_2_63_are_refused_at_parse_time(seed: int) -> None:
    with pytest.raises(ValueError, match=rf"seeds are ints in 0\.\.{MAX_SEED}$"):
        parse_seeds(str(seed))


# ---------------------------------------------------------- --param, --benchmark-option
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                  max_size=3),
    max_leaves=8)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
LABELS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,20}", fullmatch=True).filter(
    lambda s: ".." not in s)


@SETTINGS
@given(st.lists(st.tuples(LABELS, NAMES, JSON_VALUES), min_size=1, max_size=6))
def test_params_round_trip(items: list[tuple[str, str, Any]]) -> None:
    labels = list(dict.fromkeys(label for label, _, _ in items))
    text = [f"{label}.{name}={json.dumps(value)}" for label, name, value in items]
    want: dict[str, dict[str, Any]] = {label: {} for label in labels}
    for label, name, value in items:
        want[label][name] = value
    assert parse_params(text, labels) == want


@SETTINGS
@given(st.lists(st.text(max_size=25), max_size=4), st.lists(LABELS, min_size=1, max_size=3))
def test_any_param_is_parsed_or_one_line_value_error(items: list[str], labels: list[str]) -> None:
    try:
        got = parse_params(items, labels)
    except ValueError as e:
        assert re.match(r"(bad )?--param ", one_line_error(e))
    else:
        assert set(got) == set(labels)


@SETTINGS
@given(st.dictionaries(NAMES, JSON_VALUES, max_size=5))
def test_benchmark_options_round_trip(options: dict[str, Any]) -> None:
    assert parse_options([f"{k}={json.dumps(v)}" for k, v in options.items()]) == options


@SETTINGS
@given(st.lists(st.text(max_size=25), max_size=4))
def test_any_benchmark_option_is_parsed_or_one_line_value_error(items: list[str]) -> None:
    try:
        got = parse_options(items)
    except ValueError as e:
        assert re.match(r"(bad )?--benchmark-option ", one_line_error(e))
    else:
        assert len(got) == len(items)


@SETTINGS
@given(st.text(max_size=40))
def test_a_value_is_json_where_it_parses_else_the_text(text: str) -> None:
    try:
        want = json.loads(text)
    except ValueError:
        want = text
    got = parse_value(text)
    assert got == want or (isinstance(got, float) and math.isnan(got))


@pytest.mark.parametrize("text", ["[" * 100_000, "1" * 5000, "{" * 50_000 + "}" * 50_000])
def test_values_json_cannot_read_stay_text(text: str) -> None:
    assert parse_value(text) == text


# -------------------------------------------------------------------------- --algorithms
REGISTERED = sorted(OPTIMIZERS.names())


@SETTINGS
@given(st.lists(st.tuples(LABELS, st.sampled_from(REGISTERED)), min_size=1, max_size=5,
                unique_by=lambda t: t[0]))
def test_algorithm_labels_round_trip(items: list[tuple[str, str]]) -> None:
    text = ",".join(f"{label}={name}" for label, name in items)
    assert parse_algorithms(text) == dict(items)


@SETTINGS
@given(st.lists(st.one_of(st.text(max_size=12).filter(lambda s: ":" not in s),
                          st.builds(lambda a, b: f"{a}={b}",
                                    st.text(max_size=12).filter(lambda s: ":" not in s),
                                    st.sampled_from(REGISTERED))),
                max_size=4))
def test_any_algorithms_text_gives_labels_or_one_line_error(items: list[str]) -> None:
    text = ",".join(items)
    try:
        got = parse_algorithms(text)
    except (ValueError, KeyError) as e:  # RegistryError is both; StoreError a ValueError
        one_line_error(e)
    else:
        assert got and all(check_label(label) == label for label in got)
        assert set(got.values()) <= set(REGISTERED)


@SETTINGS
@given(st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8}){0,2}:[A-Za-z_]{1,8}", fullmatch=True))
def test_import_paths_that_do_not_load_are_one_line_errors(path: str) -> None:
    with pytest.raises(KeyError) as e:
        parse_algorithms(f"mine=no_such_pkg_for_tests.{path}")
    assert "cannot import module" in one_line_error(e.value)


# ------------------------------------------------------------------------- NB201 cells
SPACE = NB201Space()


def cell_string(ops: list[int]) -> str:
    """The official NB201 string, built here (not by the space)."""
    o = [OPS[i] for i in ops]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


CELLS = st.lists(st.integers(0, len(OPS) - 1), min_size=6, max_size=6)


@SETTINGS
@given(CELLS)
def test_valid_cells_round_trip(ops: list[int]) -> None:
    s = cell_string(ops)
    arch = SPACE.parse(s)
    assert list(arch.ops) == ops
    assert SPACE.format(arch) == s == SPACE.arch_id(arch)
    assert SPACE.parse(SPACE.index(arch)) == arch


def mutate(data: Any, s: str, alphabet: str) -> str:
    """``s`` with 1-3 random edits: insert, delete or replace a character, or swap two
    slices."""
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["insert", "delete", "replace", "swap"]))
        i = data.draw(st.integers(0, len(s)))
        c = data.draw(st.sampled_from(list(alphabet)) | st.characters())
        if kind == "insert":
            s = s[:i] + c + s[i:]
        elif kind == "delete" and s:
            s = s[:i] + s[i + 1:]
        elif kind == "replace" and i < len(s):
            s = s[:i] + c + s[i + 1:]
        elif kind == "swap":
            j = data.draw(st.integers(i, len(s)))
            s = s[j:] + s[i:j] + s[:i]
    return s


@SETTINGS
@given(CELLS, st.data())
def test_a_mutated_cell_string_is_a_cell_or_a_clear_error(ops: list[int], data: Any) -> None:
    s = mutate(data, cell_string(ops), "|+~0123_xnoecvskiplavg")
    try:
        arch = SPACE.parse(s)
    except (ValueError, TypeError) as e:
        assert not isinstance(e, KeyError)
        assert one_line_error(e).startswith("bad NB201 cell string ")
    else:  # only exact official strings are cells
        assert SPACE.format(arch) == s
