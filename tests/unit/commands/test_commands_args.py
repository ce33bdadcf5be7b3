"""Argument splitting and the grammar: examples a user would type, then properties over any text."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bot.commands import CommandService, UsageError, parse, tokenize
from bot.commands.args import DOUBLE_QUOTES, QUOTES, SINGLE_QUOTES, normalize, query_text, unwrap_quotes
from bot.commands.grammar import (
    DEFAULT_NEWS,
    MAX_NEWS,
    EditCmd,
    HelpCmd,
    ListCmd,
    MuteCmd,
    NewsCmd,
    OptionsCmd,
    QueryCmd,
    QuoteCmd,
    SubscribeCmd,
    UnmuteCmd,
)
from bot.commands.options import OptionChange
from bot.domain.errors import CommandError
from bot.domain.models import CommandContext, QuietHours, TradingSession

from .conftest import discord_ctx, slack_ctx


def texts(line: str) -> list[str]:
    return [t.text for t in tokenize(line)]


# ---------------------------------------------------------------- examples


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", []),
        ("   \t\n ", []),
        ("AMZN MSFT", ["AMZN", "MSFT"]),
        ('cloud "export control" chip*', ["cloud", "export control", "chip*"]),
        ("'export control' cloud", ["export control", "cloud"]),
        ("“export control” cloud", ["export control", "cloud"]),  # macOS / iOS smart quotes
        ("‘export control’", ["export control"]),
        ("”export control”", ["export control"]),  # some keyboards close on both sides
        ("„Exportkontrolle“", ["Exportkontrolle"]),
        ("Nvidia's don’t", ["Nvidia's", "don’t"]),  # apostrophes inside words stay
        ('"it\'s fine"', ["it's fine"]),  # the other kind of quote is literal inside
        ("'say \"hi\"'", ['say "hi"']),
        ("AMZN\u00a0MSFT", ["AMZN", "MSFT"]),  # non-breaking space separates
        ("克隆 «нефть» émission", ["克隆", "«нефть»", "émission"]),
        ('""', [""]),
        ('-"press release" ="cloud"', ["press release", "cloud"]),
    ],
)
def test_tokenize_examples(line: str, expected: list[str]) -> None:
    assert texts(line) == expected


def test_markers_before_quotes_are_kept() -> None:
    tokens = tokenize('-"press release" ="cloud" -podcast')
    assert [(t.marker, t.quoted, t.shown) for t in tokens] == [
        ("-", True, '-"press release"'),
        ("=", True, '="cloud"'),
        ("", False, "-podcast"),
    ]


def test_unclosed_quote_says_where() -> None:
    with pytest.raises(CommandError, match=r"at character 14 is never closed"):
        tokenize('create chips "export control')


def test_normalize_drops_invisible_characters() -> None:
    assert normalize("AM\u200bZN\ufeff") == "AMZN"


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("'$NVDA AND (chips OR sanction*)'", "$NVDA AND (chips OR sanction*)"),
        ("‘$NVDA AND “export control”’", '$NVDA AND "export control"'),
        ("'export control' OR 'entity list'", '"export control" OR "entity list"'),
        ("$NVDA AND Nvidia's", "$NVDA AND Nvidia's"),
        ("'Nvidia's chips'", "Nvidia's chips"),
        ("$AMD AND ‘export control’", '$AMD AND "export control"'),
    ],
)
def test_query_quoting(typed: str, query: str) -> None:
    assert query_text(typed) == query


def test_unwrap_quotes_only_unwraps_single_quotes() -> None:
    assert unwrap_quotes(" '$NVDA AND chips' ") == "$NVDA AND chips"
    assert unwrap_quotes("‘$NVDA AND chips’") == "$NVDA AND chips"
    assert unwrap_quotes('"export control"') == '"export control"'


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("quote", "AMZN", QuoteCmd(("AMZN",))),
        ("quote", "amzn $msft, brk.b AMZN", QuoteCmd(("AMZN", "MSFT", "BRK-B"))),
        ("quote", "AMZN,MSFT", QuoteCmd(("AMZN", "MSFT"))),
        ("news", "AMZN", NewsCmd("AMZN", DEFAULT_NEWS)),
        ("news", "$tsla 10", NewsCmd("TSLA", 10)),
        ("news", "10 TSLA", NewsCmd("TSLA", 10)),
        ("news", "TSLA 500", NewsCmd("TSLA", MAX_NEWS, 500)),
        ("watch", "", HelpCmd()),
        ("watch", "help mute", HelpCmd("mute")),
        ("watch", "help /quote", HelpCmd("quote")),
        ("watch", "LIST", ListCmd()),
        ("watch", "ls", ListCmd()),
        (
            "watch",
            "subscribe cloud-china briefing",
            SubscribeCmd("cloud-china", (OptionChange("briefing", "premarket"),)),
        ),
        (
            "watch",
            "subscribe cloud-china no-briefing",
            SubscribeCmd("cloud-china", (OptionChange("briefing", "none"),)),
        ),
        ("watch", "subscribe cloud-china", SubscribeCmd("cloud-china", ())),
        (
            "watch",
            "subscribe chips quiet 22:00-06:00 max 10/h min-move 2% sessions pre-market, regular "
            "threads off briefing premarket",
            SubscribeCmd(
                "chips",
                (
                    OptionChange("quiet", QuietHours(time(22), time(6))),
                    OptionChange("max", 10),
                    OptionChange("min-move", 2.0),
                    OptionChange("sessions", (TradingSession.PRE, TradingSession.REGULAR)),
                    OptionChange("threads", False),
                    OptionChange("briefing", "premarket"),
                ),
            ),
        ),
        (
            "watch",
            "options chips quiet off max 5 sessions all min-move 0.5",
            OptionsCmd(
                "chips",
                (
                    OptionChange("quiet", None),
                    OptionChange("max", 5),
                    OptionChange("sessions", ()),
                    OptionChange("min-move", 0.5),
                ),
            ),
        ),
        ("watch", "options chips", OptionsCmd("chips", ())),
        (
            "watch",
            "opts chips sessions regular after-hours briefing",
            OptionsCmd(
                "chips",
                (
                    OptionChange("sessions", (TradingSession.REGULAR, TradingSession.POST)),
                    OptionChange("briefing", "premarket"),
                ),
            ),
        ),
        ("watch", "mute 2h", MuteCmd(timedelta(hours=2))),
        ("watch", "mute 30m chips", MuteCmd(timedelta(minutes=30), "chips")),
        ("watch", "mute chips 1d", MuteCmd(timedelta(days=1), "chips")),
        ("watch", "unmute", UnmuteCmd()),
        (
            "watch",
            "query chips '($NVDA OR $AMD) AND \"export control\"'",
            QueryCmd("chips", '($NVDA OR $AMD) AND "export control"'),
        ),
        (
            "watch",
            "query chips ‘$NVDA AND “export control”’",
            QueryCmd("chips", '$NVDA AND "export control"'),
        ),
        ("watch", "query chips $NVDA AND Nvidia's", QueryCmd("chips", "$NVDA AND Nvidia's")),
    ],
)
def test_grammar_examples(command: str, text: str, expected: object) -> None:
    assert parse(command, text) == expected


def test_edit_items_keep_how_they_were_written() -> None:
    cmd = parse("watch", 'create cloud-china AMZN, $msft "export control" chip* -podcast')
    assert isinstance(cmd, EditCmd)
    assert cmd.action == "create" and cmd.name == "cloud-china"
    assert [t.shown for t in cmd.items] == ["AMZN", "$msft", '"export control"', "chip*", "-podcast"]


@pytest.mark.parametrize(
    ("command", "text", "fragment"),
    [
        ("quote", "", "needs at least one ticker"),
        ("quote", "AMZN $ 12", "'$' is not a ticker symbol"),
        ("quote", " ".join(f"S{i}" for i in range(11)), "at most 10"),
        ("news", "", "needs a ticker"),
        ("news", "AMZN 0", "'0' is not a number of stories"),
        ("news", "AMZN five", "'five' is not a number"),
        ("news", "AMZN 5 6", "Unexpected '6'"),
        ("watch", "lsit", "Did you mean /watch list?"),
        ("watch", "frobnicate", "has no command 'frobnicate'"),
        ("watch", "show", "needs a watchlist NAME"),
        ("watch", "show my list", "Unexpected 'list'"),
        ("watch", "show 'my list'", "has characters other than letters"),
        ("watch", "create " + "x" * 33 + " AMZN", "is too long"),
        ("watch", "create chips", "needs at least one ticker or keyword"),
        ("watch", "delete", "needs a watchlist NAME"),
        ("watch", "subscriptions extra", "Unexpected 'extra'"),
        ("watch", "mute", "needs a duration"),
        ("watch", "mute 90", "needs a unit"),
        ("watch", "mute soon", "'soon' is not a duration"),
        ("watch", "mute 0m", "Choose between 1m and 30d"),
        ("watch", "mute 45d", "Choose between 1m and 30d"),
        ("watch", "subscribe chips daily", "Unknown option 'daily'. Options are quiet 22:00-06:00"),
        ("watch", "subscribe chips quite 22:00-06:00", "Did you mean quiet?"),
        ("watch", "subscribe chips quiet 22-06", "'22-06' is not a quiet-hours window: write quiet hours as"),
        ("watch", "subscribe chips quiet 25:00-06:00", "hours are 00-23"),
        ("watch", "options chips quiet", "quiet needs a value: write quiet 22:00-06:00"),
        ("watch", "options chips max ten", "'ten' is not an hourly cap"),
        ("watch", "options chips max 0/h", "from 1 to 3600"),
        ("watch", "options chips min-move 2x", "'2x' is not a percentage"),
        ("watch", "options chips min-move 150%", "at most 100"),
        ("watch", "options chips sessions lunch", "'lunch' is not a trading session"),
        ("watch", "options chips sessions regular,lunch", "'lunch' is not a trading session"),
        ("watch", "options chips threads maybe", "write threads on or threads off"),
        ("watch", "options chips briefing daily", "write briefing premarket or briefing off"),
        ("watch", "options chips max 5 max 6", "max is given twice"),
        ("watch", "query", "needs a watchlist NAME and a query"),
        ("watch", "query chips", "The query is empty"),
        ("watch", "query chips ''", "The query is empty"),
        ("watch", 'add chips "export control', "never closed"),
    ],
)
def test_grammar_errors(command: str, text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(command, text)
    assert fragment in str(err.value)


# ---------------------------------------------------------------- properties

bare_words = st.text(
    alphabet=st.characters(
        blacklist_categories=("Z", "Cc", "Cs"), blacklist_characters="".join(QUOTES) + "\u200b\u2060\ufeff"
    ),
    min_size=1,
    max_size=12,
).filter(lambda w: not w.isspace() and not any(c.isspace() for c in w) and w.lstrip("-=")[:1] not in QUOTES)

any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)


@given(any_text)
def test_query_text_never_raises(text: str) -> None:
    assert isinstance(query_text(text), str)


@given(any_text)
@example("“")
@example("‘it")
@example('-"')
@example("=" * 5 + '"')
def test_tokenize_raises_only_command_errors(text: str) -> None:
    try:
        tokens = tokenize(text)
    except CommandError as exc:
        assert "never closed" in str(exc)
        return
    # tokens come in order, do not overlap, and never contain an unquoted space
    last = 0
    for t in tokens:
        assert last <= t.start < t.end <= len(text)
        last = t.end
        if not t.quoted:
            assert t.text and not any(c.isspace() for c in t.text)


@given(st.lists(bare_words, max_size=20), st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u3000"]))
def test_bare_words_split_on_any_whitespace(words: list[str], sep: str) -> None:
    assert texts(sep.join(words)) == words


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="".join(DOUBLE_QUOTES)),
        max_size=60,
    ),
    st.sampled_from(sorted(DOUBLE_QUOTES)),
    st.sampled_from(sorted(DOUBLE_QUOTES)),
)
def test_double_quoted_text_is_one_argument(inner: str, opener: str, closer: str) -> None:
    tokens = tokenize(f"add x {opener}{inner}{closer} cloud")
    assert [t.text for t in tokens] == ["add", "x", inner, "cloud"]
    assert tokens[2].quoted


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="".join(SINGLE_QUOTES)),
        max_size=60,
    )
)
def test_single_quoted_text_is_one_argument(inner: str) -> None:
    assert texts(f"‘{inner}’") == [inner]


def _ten_kb(pieces: list[str]) -> str:
    chunk = " ".join(pieces) or "x"
    return (chunk * (10_240 // len(chunk) + 1))[:10_240]


# Hypothesis cannot draw 10 kB strings directly: repeat a drawn mix of words, quotes and noise
ten_kb = st.lists(
    st.one_of(any_text, st.sampled_from(['"', "“", "'", "’", "$", "-", "AMZN", "cloud"])),
    min_size=1,
    max_size=30,
).map(_ten_kb)


@settings(max_examples=40, deadline=None)
@given(ten_kb)
@example("“" + "a" * 10_239)
@example("a " * 5_120)
def test_ten_kilobytes_of_anything(text: str) -> None:
    assert len(text) == 10_240
    for command in ("quote", "news", "watch"):
        try:
            parse(command, text)
        except CommandError:
            pass


@given(st.sampled_from(["quote", "news", "watch"]), any_text)
def test_grammar_raises_only_usage_errors(command: str, text: str) -> None:
    try:
        parse(command, text)
    except UsageError:
        pass


@given(
    st.lists(
        st.sampled_from(
            ["create", "add", "cloud", "AMZN", "$NVDA", '"', "“", "’", "'", "-", "=", "*", "chips", "x"]
        ),
        max_size=12,
    )
)
def test_grammar_on_command_shaped_noise(words: list[str]) -> None:
    text = " ".join(words)
    try:
        parse("watch", text)
    except UsageError as exc:
        assert str(exc)


# ---------------------------------------------------------------- the whole service never raises

_settings = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

watch_lines = st.one_of(
    any_text,
    st.builds(
        lambda sub, rest: f"{sub} {rest}",
        st.sampled_from(
            [
                "list",
                "show",
                "create",
                "add",
                "remove",
                "delete",
                "query",
                "subscribe",
                "options",
                "unsubscribe",
                "subscriptions",
                "mute",
                "unmute",
                "test",
                "help",
            ]
        ),
        any_text,
    ),
)


callers = st.sampled_from(
    [slack_ctx(), slack_ctx("U2", admin=True), discord_ctx(manage=True), discord_ctx(manage=False)]
)


@_settings
@given(command=st.sampled_from(["quote", "news", "watch"]), text=st.one_of(watch_lines, ten_kb), who=callers)
@example(command="watch", text="create x " + "é" * 10_000, who=slack_ctx())
@example(command="quote", text="A" * 10_240, who=slack_ctx())
@example(command="watch", text="", who=discord_ctx())
async def test_handle_always_answers(
    service: CommandService, command: str, text: str, who: CommandContext
) -> None:
    reply = await service.handle(who, command, text)  # type: ignore[arg-type]
    assume(reply is not None)
    assert reply.title or reply.text
    if reply.error:
        assert reply.private
        assert "Traceback" not in reply.text
