"""The fast reader of the YAML subset configs are written in gives exactly what libyaml gives.

``bot.config._fast_yaml`` reads plain block YAML itself and hands anything else to PyYAML. These
properties generate documents from the subset's pieces and from pieces just outside it (tricky
scalars, keys YAML reads as booleans, flow lists, comments, odd indentation), mutate them line by
line, and check that whenever the fast reader answers, its answer is the one
``yaml.load(..., CSafeLoader)`` gives: the same values of the same types.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import _UNSUPPORTED, _fast_yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

KEYS = st.sampled_from(
    ["name", "tickers", "keywords", "a", "b_c", "x-y", "a.b", "on", "yes", "No", "null", "y", "Off", "t1"]
)
PLAIN = st.sampled_from(
    [
        "cloud",
        "export control",
        "NVDA",
        "$NVDA",
        "BRK.B",
        "chip*",
        "-5",
        "+3",
        "0x1F",
        "0o17",
        "017",
        "1_000",
        "1:20",
        "1.5",
        ".inf",
        "-.inf",
        ".nan",
        "1e3",
        "~",
        "null",
        "Null",
        "true",
        "False",
        "yes",
        "off",
        "2026-12-03",
        "2026-12-03 14:30:00",
        "a#b",
        "a #b",
        "a: b",
        "a:",
        "a:b",
        "-",
        "- x",
        "?x",
        "? x",
        "*x",
        "&x",
        "!x",
        "|",
        ">",
        "%x",
        "@x",
        "`x",
        "x`y",
        "wh?t",
        "a,b",
        "[x",
        "]x",
        "{x",
        "}",
        "a  b",
        "é",
        "日本",
        "=",
        "<<",
        "\\x",
        "a'b",
        'a"b',
        "#",
        "",
    ]
)


def _quoted(s: str) -> st.SearchStrategy[str]:
    return st.sampled_from([f"'{s.replace(chr(39), chr(39) * 2)}'", f'"{s}"'])


SCALAR_TEXT = st.one_of(PLAIN, PLAIN.flatmap(_quoted))
FLOW = st.lists(SCALAR_TEXT, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]") | st.sampled_from(
    ["[]", "[ ]", "[a, [b]]", "[a,]", "[a b, c]", "{}", "{a: 1}", '["a" , b ]', "[ a ,b]"]
)
COMMENT = st.sampled_from(["", "", " # note", "  #x", "#glued"])


@st.composite
def documents(draw: st.DrawFn, depth: int = 0) -> list[str]:
    """Lines of a block mapping or sequence, nested, each value maybe with a comment."""
    indent = draw(st.sampled_from([2, 2, 4, 1, 3]))
    lines: list[str] = []
    as_sequence = depth > 0 and draw(st.booleans())
    for _ in range(draw(st.integers(1, 4))):
        head = "- " if as_sequence else draw(KEYS) + ":"
        if depth < 3 and draw(st.integers(0, 3)) == 0:
            child = draw(documents(depth + 1))
            if as_sequence and draw(st.booleans()):
                lines.append("- " + child[0].lstrip(" "))
                lines += [" " * 2 + c for c in child[1:]]
            else:
                lines.append(head.rstrip() + draw(COMMENT))
                lines += [" " * indent + c for c in child]
        else:
            value = draw(st.one_of(SCALAR_TEXT, FLOW))
            lines.append(f"{head} {value}{draw(COMMENT)}" if not as_sequence else f"- {value}{draw(COMMENT)}")
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["", "# comment", "   ", "  # indented comment"])))
    return lines


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(documents())
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["indent", "dedent", "trail", "tab", "dup", "drop", "cr"]))
        if op == "indent":
            lines[i] = " " + lines[i]
        elif op == "dedent":
            lines[i] = lines[i][1:] if lines[i].startswith(" ") else lines[i]
        elif op == "trail":
            lines[i] += draw(st.sampled_from([" ", "  ", "\t"]))
        elif op == "tab":
            lines[i] = "\t" + lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "cr":
            lines[i] += "\r"
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (True is not 1, 1.0 is not 1, nan is nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(
            same(a[k], b[k]) and type(k) is type(kb) for k, kb in zip(a, b, strict=True)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def check(text: str) -> None:
    fast = _fast_yaml(text)
    if fast is _UNSUPPORTED:
        return
    try:
        expected = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise AssertionError(f"the fast reader accepted what libyaml refuses ({exc}):\n{text}") from None
    assert same(fast, expected), f"{text!r}\nfast:    {fast!r}\nlibyaml: {expected!r}"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents().map(lambda lines: "\n".join(lines) + "\n"))
def test_generated_documents_read_as_libyaml_reads_them(text: str) -> None:
    check(text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_documents_read_as_libyaml_reads_them_or_go_to_it(text: str) -> None:
    check(text)


@given(st.text(alphabet=st.sampled_from(list("ab:- #'\"[],\n{}?&*!|>%@`~01.\t")), max_size=60))
@settings(max_examples=1000, deadline=None)
def test_any_short_text_reads_as_libyaml_reads_it_or_goes_to_it(text: str) -> None:
    check(text)


def test_the_generators_reach_the_fast_path() -> None:
    """The subset itself takes the fast path (about a fifth of the generated documents do too)."""
    assert _fast_yaml("name: x\ntickers: [NVDA, 'BRK.B']\nkeywords:\n  - cloud # c\n") == {
        "name": "x",
        "tickers": ["NVDA", "BRK.B"],
        "keywords": ["cloud"],
    }
