"""The slash commands, declared once: names, subcommands, arguments, descriptions, who may use
them, autocomplete, and which are slow.

Everything that lists the commands is derived from ``COMMANDS``: the Discord command tree
(``bot.chat.discord_bot.commands``), the Slack slash commands (the adapter's listeners and
``slack_manifest_commands``, which ``config/slack-app-manifest.yaml`` must equal:
``marketbot slack manifest`` writes them there), the grammar (``bot.commands.grammar``), every
usage line and help reply (``usage_table``), the dispatch, and Discord's default and runtime
permission checks. tests/contract/test_command_spec.py checks that they agree.

Each entry also says how its text is parsed (``Arg.parse`` for an argument with a grammar of its
own, ``grammar`` for a whole line that has one, ``record`` for the typed value the handler
gets) and what its usage line says (``help``, and ``form`` where the derived one would not
do). Its handler is a method marked ``@handles(command, subcommand)`` (``bot.commands.registry``);
``CommandService`` refuses to start when an entry has no handler or two.

Adding a command is one ``CommandSpec`` here (listed in ``OTHERS``) plus one handler; see
docs/architecture.md and tests/unit/commands/test_command_recipe.py.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import yaml

from bot.commands import parsers as p
from bot.commands.args import Token
from bot.commands.messages import ITEMS_LINE
from bot.commands.records import (
    Args,
    DeleteCmd,
    EditCmd,
    FeedAddCmd,
    FeedHelpCmd,
    FeedListCmd,
    FeedRemoveCmd,
    FeedTestCmd,
    HelpCmd,
    ListCmd,
    MuteCmd,
    NewsCmd,
    OptionsCmd,
    QueryCmd,
    QuoteCmd,
    ShowCmd,
    StatusCmd,
    SubscribeCmd,
    SubscriptionsCmd,
    TestCmd,
    UnmuteCmd,
    UnsubscribeCmd,
)
from bot.ports import CommandName, CompleteKind

ArgKind = Literal["text", "int", "bool"]
# an argument with its own grammar: (the words it took, the usage key) -> its value
ArgParser = Callable[[Sequence[Token], str], Any]
# a subcommand whose whole line has its own grammar: (text, its words, the usage key) -> values
LineGrammar = Callable[[str, Iterator[Token], str], Mapping[str, Any]]
# the typed value a handler gets, built from the values: (**values) -> record
Record = Callable[..., object]


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a command (a Discord option; a word or two of the Slack text).

    ``low``/``high`` bound a text's length or an int's value. ``named`` arguments are written
    ``NAME VALUE`` in the command text (the options of /watch subscribe); the others are written
    as their value, in the order declared. ``complete`` offers autocomplete of that kind
    (``last_word``: of the last word of a space-separated list). ``zero`` is how an int 0 is
    written and ``suffix`` follows any other int (``max 10/h``, ``max off``).

    Parsing: ``rest`` takes every remaining word; ``parse`` reads the words taken (otherwise the
    grammar checks the kind, ``low``/``high`` and ``choices``); ``field`` names the record field
    (default: ``name``). Usage: ``metavar`` is how the usage line shows the value (default
    ``NAME`` for ``name``) and ``missing`` what the error says is needed when it is left out.
    """

    name: str
    description: str
    kind: ArgKind = "text"
    required: bool = True
    low: int | None = None
    high: int | None = None
    named: bool = False
    complete: CompleteKind | None = None
    last_word: bool = False
    choices: tuple[tuple[str, str], ...] = ()  # (label, value)
    suffix: str = ""
    zero: str | None = None
    rest: bool = False
    parse: ArgParser | None = None
    field: str = ""
    metavar: str = ""
    missing: str = ""

    @property
    def key(self) -> str:
        """The name of its value in the parsed values (the record field)."""
        return self.field or self.name

    @property
    def shown(self) -> str:
        """How the usage line shows its value."""
        return self.metavar or self.name.upper()

    def usage(self) -> str:
        """Its part of the usage line: ``NAME``, ``[NAME]``, ``[every 5m]``."""
        text = f"{self.name} {self.shown}" if self.named else self.shown
        return text if self.required else f"[{text}]"

    def words(self, value: Any) -> list[str]:
        """How ``value`` is written in the command text the handler parses (nothing when unset)."""
        if value is None:
            return []
        if self.kind == "bool":
            text = "on" if value else "off"
        elif self.kind == "int":
            text = self.zero if value == 0 and self.zero is not None else f"{value}{self.suffix}"
        else:
            text = str(value)
        if not text:
            return []
        return [self.name, text] if self.named else [text]


@dataclass(frozen=True, slots=True)
class Sub:
    """A subcommand. ``manage``: changes state, so Discord checks Manage Channels before it runs;
    ``slow``: acknowledged at once; ``private``: its answer is private (a defer is too).

    ``help`` is what its usage line says it does (``{max_quote}``-style fields are filled from
    the grammar's limits), ``form`` replaces the usage form derived from the arguments,
    ``aliases`` are other words for it, ``record`` builds what the handler gets from the
    parsed values (default: ``Args``, the values as a mapping), and ``grammar`` replaces
    the argument-by-argument parsing for a line with a grammar of its own."""

    name: str
    description: str
    args: tuple[Arg, ...] = ()
    manage: bool = False
    slow: bool = False
    private: bool = False
    help: str = ""
    form: str = ""
    aliases: tuple[str, ...] = ()
    record: Record = Args
    grammar: LineGrammar | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A slash command: either its own ``args`` or ``subcommands``.

    ``description`` is Discord's (at most 100 characters); ``summary`` and ``usage_hint`` are
    the Slack manifest's. ``managers_only``: Discord shows it by default only to members with
    Manage Channels, and only in servers (a server admin can widen who sees it).
    ``admins_only``: the same with Manage Server; its handlers let only admins use it (Slack
    workspace admins and owners, the configured admins, Discord members with Manage Server).
    ``private``: every answer is private (a defer is too).
    """

    name: CommandName
    description: str
    summary: str
    usage_hint: str
    args: tuple[Arg, ...] = ()
    subcommands: tuple[Sub, ...] = ()
    slow: bool = False
    managers_only: bool = False
    admins_only: bool = False
    private: bool = False
    help: str = ""
    form: str = ""
    record: Record = Args
    grammar: LineGrammar | None = None
    home: bool = False  # /watch: its subcommands' usage keys are bare; its help explains the others

    def sub(self, name: str) -> Sub | None:
        return next((s for s in self.subcommands if s.name == name), None)

    def entries(self) -> tuple[Sub, ...]:
        """What a handler answers: each subcommand, or the command itself as one (name ``""``)."""
        return self.subcommands or _own_entry(self)

    def usage_key(self, sub: str) -> str:
        """The key of a usage line: ``quote``, ``show`` (/watch's), ``feed add``."""
        if not sub:
            return self.name
        return sub if self.home else f"{self.name} {sub}"

    def usage_form(self, entry: Sub) -> str:
        """``/watch show NAME``: the entry's ``form``, or derived from its arguments."""
        if entry.form:
            return entry.form
        return " ".join(
            [f"/{self.name}", *([entry.name] if entry.name else []), *(a.usage() for a in entry.args)]
        )

    def text(self, sub: str | None, values: Mapping[str, Any]) -> str:
        """The command text (what a Slack user types after /name) for Discord's typed options."""
        args = self.args if sub is None else self._require_sub(sub).args
        words = [sub] if sub else []
        for arg in args:
            words += arg.words(values.get(arg.name))
        return " ".join(words)

    def is_slow(self, text: str) -> bool:
        """Whether this call waits on quotes, charts or a scan of stories (defer at once)."""
        if not self.subcommands:
            return self.slow
        found = self.sub(text.split(" ", 1)[0])
        return found is not None and found.slow

    def is_private(self, text: str) -> bool:
        """Whether the answer to this call is private whatever happens (help, /feed)."""
        if self.private:
            return True
        found = self.sub(text.split(" ", 1)[0]) if self.subcommands else None
        return found is not None and found.private

    def _require_sub(self, name: str) -> Sub:
        found = self.sub(name)
        if found is None:
            raise KeyError(f"/{self.name} has no subcommand {name!r}")
        return found


_OWN: dict[int, tuple[CommandSpec, tuple[Sub, ...]]] = {}


def _own_entry(spec: CommandSpec) -> tuple[Sub, ...]:
    """A command without subcommands as the one entry its handler answers (made once per spec)."""
    cached = _OWN.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    own = Sub("", spec.description, spec.args, slow=spec.slow, private=spec.private)
    entry = (
        dataclasses.replace(own, help=spec.help, form=spec.form, record=spec.record, grammar=spec.grammar),
    )
    _OWN[id(spec)] = (spec, entry)
    return entry


# ---------------------------------------------------------------- the commands

WATCHLIST_NAME_MAX: Final = 32
LIST_FILTER_MAX: Final = p.LIST_FILTER_MAX
_NAME = Arg(
    "name",
    "The watchlist",
    low=1,
    high=WATCHLIST_NAME_MAX,
    complete="watchlist",
    parse=p.name_arg,
    missing="a watchlist NAME",
)
_ITEMS = Arg(
    "items",
    'Tickers and keywords, e.g. $NVDA AMD cloud "export control" chip*',
    rest=True,
    parse=p.items,
    metavar="ITEMS...",
    missing=f"at least one ticker or keyword. {ITEMS_LINE}",
)
_OPTIONAL_NAME = dataclasses.replace(_NAME, description="Only this watchlist (default: all)", required=False)
_OPTIONS: Final = (
    Arg(
        "quiet",
        "Hold alerts in this window, e.g. 22:00-06:00 (off: none)",
        required=False,
        low=1,
        high=60,
        named=True,
    ),
    Arg(
        "max",
        "At most this many alerts an hour (0: no cap)",
        kind="int",
        required=False,
        low=0,
        high=3600,
        named=True,
        suffix="/h",
        zero="off",
    ),
    Arg(
        "min-move",
        "Move alerts from this size, e.g. 2% (off: any)",
        required=False,
        low=1,
        high=60,
        named=True,
    ),
    Arg(
        "sessions",
        "Only in these sessions, e.g. pre-market,regular (all: every session)",
        required=False,
        low=1,
        high=60,
        named=True,
        complete="session",
    ),
    Arg("threads", "Follow-ups in a thread under the alert", kind="bool", required=False, named=True),
    Arg(
        "briefing",
        "The pre-market briefing on trading days",
        required=False,
        named=True,
        choices=(("pre-market briefing on trading days", "premarket"), ("off", "off")),
    ),
)

QUOTE = CommandSpec(
    name="quote",
    description="Price, change and session; a chart for one ticker",
    summary="Price, change and session for tickers, with the latest headlines",
    usage_hint="AMZN [MSFT ...]",
    args=(
        Arg(
            "tickers",
            "One or more tickers, e.g. NVDA or AMZN MSFT",
            low=1,
            high=200,
            complete="ticker",
            last_word=True,
            rest=True,
            parse=p.quote_symbols,
            field="symbols",
            missing="at least one ticker, e.g. /quote NVDA",
        ),
    ),
    slow=True,
    form="/quote AMZN [MSFT ...]",
    help="price, change and session for up to {max_quote} tickers, with their latest headlines "
    "(a chart for one ticker). Example: /quote NVDA",
    record=QuoteCmd,
)

NEWS = CommandSpec(
    name="news",
    description="The latest stories that mention a ticker",
    summary="The latest stories that mention a ticker",
    usage_hint="AMZN [N]",
    args=(
        Arg("ticker", "A ticker, e.g. AMZN", low=1, high=20, complete="ticker", metavar="AMZN"),
        Arg(
            "count",
            "How many stories (default 5, at most 20)",
            kind="int",
            required=False,
            low=1,
            high=20,
            metavar="N",
        ),
    ),
    slow=True,
    help="the latest N stories that mention a ticker, newest first (default {default_news}, "
    "at most {max_news}). Example: /news TSLA 10",
    record=NewsCmd,
    grammar=p.news_grammar,
)

_WATCH_SUBS: Final = (
    Sub(
        "list",
        "Watchlists you can subscribe to here",
        (
            Arg(
                "contains",
                "Only names containing this text",
                required=False,
                high=LIST_FILTER_MAX,
                rest=True,
                parse=p.list_filter,
                metavar="TEXT",
            ),
        ),
        help="the watchlists you can use here (TEXT: only names containing it)",
        aliases=("ls",),
        record=ListCmd,
    ),
    Sub(
        "show",
        "A watchlist's tickers, keywords, query and subscribed channels",
        (_NAME,),
        help="its tickers, keywords, query and the channels subscribed",
        aliases=("info",),
        record=ShowCmd,
    ),
    Sub(
        "create",
        "Create a watchlist of tickers and keywords",
        (
            dataclasses.replace(
                _NAME,
                description="A name: letters, digits, - and _ (e.g. cloud-china)",
                complete=None,
            ),
            _ITEMS,
        ),
        manage=True,
        help='a new watchlist. Example: /watch create cloud-china AMZN MSFT $BABA cloud "export control"',
        aliases=("new",),
        record=functools.partial(EditCmd, "create"),
    ),
    Sub(
        "add",
        "Add tickers or keywords to a watchlist",
        (_NAME, _ITEMS),
        manage=True,
        help='add tickers or keywords. Example: /watch add cloud-china GOOGL "AI chips"',
        record=functools.partial(EditCmd, "add"),
    ),
    Sub(
        "remove",
        "Remove tickers or keywords from a watchlist",
        (_NAME, dataclasses.replace(_ITEMS, description="What to remove, as it was added")),
        manage=True,
        help="remove tickers or keywords. Example: /watch remove cloud-china BABA",
        aliases=("rm",),
        record=functools.partial(EditCmd, "remove"),
    ),
    Sub(
        "delete",
        "Delete a watchlist made in chat",
        (_NAME,),
        manage=True,
        help="delete a watchlist made in chat and its subscriptions",
        aliases=("del",),
        record=DeleteCmd,
    ),
    Sub(
        "query",
        "Set a watchlist's boolean query",
        (_NAME, Arg("query", "e.g. ($AMZN OR $MSFT) AND cloud AND NOT layoffs")),
        manage=True,
        form="/watch query NAME '<query>'",
        help="match with a boolean query instead of tickers and keywords (creates NAME if needed). "
        "Example: /watch query chips '($NVDA OR $AMD) AND (\"export control\" OR sanction*) AND NOT opinion'",
        record=QueryCmd,
        grammar=p.query_grammar,
    ),
    Sub(
        "subscribe",
        "Post this watchlist's alerts in this channel",
        (_NAME, *_OPTIONS),
        manage=True,
        form="/watch subscribe NAME [OPTIONS]",
        help="alerts from NAME in this channel, with options: quiet 22:00-06:00, max 10/h, min-move 2%, "
        "sessions pre-market,regular, threads on|off, briefing premarket|off. "
        "Example: /watch subscribe cloud-china quiet 22:00-06:00 max 10/h briefing premarket",
        aliases=("sub",),
        record=SubscribeCmd,
        grammar=p.options_grammar,
    ),
    # looking is for everyone; the handler refuses changes without Manage Channels
    Sub(
        "options",
        "Show or change this channel's options for a watchlist",
        (_NAME, *_OPTIONS),
        form="/watch options NAME [OPTIONS]",
        help="show or change this channel's options for NAME (off or all resets one). "
        "Example: /watch options cloud-china min-move 2% sessions pre-market,regular threads off",
        aliases=("opts", "set"),
        record=OptionsCmd,
        grammar=p.options_grammar,
    ),
    Sub(
        "unsubscribe",
        "Stop this watchlist's alerts in this channel",
        (_NAME,),
        manage=True,
        help="stop NAME's alerts in this channel",
        aliases=("unsub",),
        record=UnsubscribeCmd,
    ),
    Sub(
        "subscriptions",
        "This channel's subscriptions",
        help="what this channel is subscribed to, with options and state (broken, muted, held alerts)",
        aliases=("subs",),
        record=SubscriptionsCmd,
    ),
    Sub(
        "mute",
        "Pause alerts in this channel for a while",
        (
            Arg(
                "duration",
                "e.g. 30m, 2h or 1d",
                low=1,
                high=20,
                metavar="2h|30m|1d",
                missing="a duration such as 30m, 2h or 1d",
            ),
            _OPTIONAL_NAME,
        ),
        manage=True,
        help="hold this channel's alerts for a while (one watchlist with NAME). Example: /watch mute 2h",
        record=MuteCmd,
        grammar=p.mute_grammar,
    ),
    Sub(
        "unmute",
        "Resume alerts in this channel",
        (_OPTIONAL_NAME,),
        manage=True,
        help="end a mute now",
        record=UnmuteCmd,
    ),
    Sub(
        "test",
        "Which stories of the last 24 hours would have matched, and why",
        (_NAME,),
        slow=True,
        help="which stories of the last 24 hours would have matched, and why",
        record=TestCmd,
    ),
    Sub(
        "status",
        "Feeds with health, subscriptions, last alerts and the queue here",
        slow=True,
        private=True,
        help="this workspace's feeds with health, this channel's subscriptions with state, "
        "the last alert per channel and what is queued",
        record=StatusCmd,
    ),
)


def _help(command: str, topics: Sequence[str], record: Record) -> Sub:
    """The help subcommand of a command with subcommands: its usage, or one topic's."""
    return Sub(
        "help",
        f"How to use /{command}",
        (
            Arg(
                "topic",
                "A subcommand to explain",
                required=False,
                choices=tuple((t, t) for t in topics),
                metavar="COMMAND",
            ),
        ),
        private=True,
        help="this help, or one command's",
        aliases=("?",),
        record=record,
    )


FEED_NAME_MAX: Final = p.FEED_NAME_MAX
FEED_URL_MAX: Final = p.MAX_URL
_FEED_URL = Arg(
    "url",
    "The feed's http(s) URL (RSS or Atom)",
    low=8,
    high=FEED_URL_MAX,
    parse=p.feed_url_arg,
    missing="a feed URL, e.g. https://example.com/rss",
)
_FEED_SUBS: Final = (
    Sub(
        "add",
        "Test a feed URL and, if it works, poll it for this server",
        (
            _FEED_URL,
            Arg(
                "every",
                "How often to poll it, e.g. 5m, 15m or 1h (default 5m)",
                required=False,
                low=2,
                high=10,
                named=True,
                parse=p.interval_arg,
                field="interval",
                metavar="5m",
                missing="an interval after every, e.g. every 5m",
            ),
            Arg(
                "name",
                "A name for it (default: the feed's title)",
                required=False,
                low=1,
                high=FEED_NAME_MAX,
                named=True,
                rest=True,
                parse=p.feed_name_arg,
                metavar="NAME...",
                missing="a NAME after name, e.g. name Example Markets",
            ),
        ),
        slow=True,
        help="test a feed and, if it works, poll it for this workspace's watchlists. "
        "Example: /feed add https://example.com/markets.rss every 10m name Example Markets",
        record=FeedAddCmd,
    ),
    Sub(
        "list",
        "This server's feeds with their health",
        help="this workspace's feeds with health: last success, items, errors",
        aliases=("ls",),
        record=FeedListCmd,
    ),
    Sub(
        "remove",
        "Stop polling a feed added here",
        (
            Arg(
                "name",
                "The feed",
                low=1,
                high=FEED_NAME_MAX,
                complete="feed",
                rest=True,
                parse=p.feed_name_arg,
                missing="the NAME of a feed (see /feed list)",
            ),
        ),
        help="stop polling a feed added here. Example: /feed remove Example Markets",
        aliases=("rm", "del", "delete"),
        record=FeedRemoveCmd,
    ),
    Sub(
        "test",
        "Fetch a feed once: its newest items and what they would match",
        (dataclasses.replace(_FEED_URL, description="The feed's http(s) URL"),),
        slow=True,
        help="fetch once: the three newest items and which watchlists here they would match (nothing is added)",
        aliases=("check",),
        record=FeedTestCmd,
    ),
)
FEED_SUBCOMMANDS: Final = (*(s.name for s in _FEED_SUBS), "help")

# admins only: the handlers check (Slack workspace admins, configured admins, Discord Manage Server)
FEED = CommandSpec(
    name="feed",
    description="Feeds this server polls for its watchlists",
    summary="Feeds this workspace polls for its watchlists (admins)",
    usage_hint="help | add URL [every 5m] [name NAME] | list | remove NAME | test URL",
    subcommands=(*_FEED_SUBS, _help("feed", tuple(s.name for s in _FEED_SUBS), FeedHelpCmd)),
    admins_only=True,
    private=True,
)

# Every command but /watch, whose help explains each of them too: a new command goes here.
OTHERS: Final[tuple[CommandSpec, ...]] = (QUOTE, NEWS, FEED)
SINGLE: Final = tuple(c for c in OTHERS if not c.subcommands)
SINGLE_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in SINGLE)

WATCH_SUBCOMMANDS: Final = (*(s.name for s in _WATCH_SUBS), "help")
# /watch help COMMAND explains the other commands too (/watch help feed as /feed help does)
_HELP_TOPICS: Final = (*(s.name for s in _WATCH_SUBS), *(c.name for c in OTHERS))

WATCH = CommandSpec(
    name="watch",
    description="Watchlists and this channel's subscriptions",
    summary="Watchlists and this channel's alert subscriptions",
    usage_hint="help | list | status | show NAME | subscribe NAME | create NAME ITEMS... | test NAME",
    subcommands=(*_WATCH_SUBS, _help("watch", _HELP_TOPICS, HelpCmd)),
    managers_only=True,
    home=True,
)

# in this order in Discord and the Slack manifest: the single commands, /watch, the groups
COMMANDS: Final[tuple[CommandSpec, ...]] = (*SINGLE, WATCH, *(c for c in OTHERS if c.subcommands))
COMMAND_NAMES: Final[tuple[CommandName, ...]] = tuple(c.name for c in COMMANDS)


def command(name: str, commands: Sequence[CommandSpec] = COMMANDS) -> CommandSpec | None:
    """The spec of ``/name`` (None for a command marketbot does not have)."""
    return next((c for c in commands if c.name == name), None)


def usage_table(commands: Sequence[CommandSpec] = COMMANDS) -> dict[str, tuple[str, str]]:
    """(form, what it does) per usage key (``quote``, ``show``, ``feed add``), from the spec."""
    if commands is COMMANDS:
        return _USAGE
    return _usage_table(tuple(commands))


def _usage_table(commands: tuple[CommandSpec, ...]) -> dict[str, tuple[str, str]]:
    return {
        spec.usage_key(entry.name): (spec.usage_form(entry), entry.help or entry.description)
        for spec in commands
        for entry in spec.entries()
    }


_USAGE: Final = _usage_table(COMMANDS)


def slack_manifest_commands(
    url: str | None = None, commands: Sequence[CommandSpec] = COMMANDS
) -> list[dict[str, Any]]:
    """``features.slash_commands`` of the Slack app manifest (with ``url`` for HTTP mode)."""
    out: list[dict[str, Any]] = []
    for spec in commands:
        entry: dict[str, Any] = {"command": f"/{spec.name}"}
        if url:
            entry["url"] = url
        entry |= {"description": spec.summary, "usage_hint": spec.usage_hint, "should_escape": False}
        out.append(entry)
    return out


_SLASH_COMMANDS: Final = "  slash_commands:"


def slack_manifest(text: str, commands: Sequence[CommandSpec] = COMMANDS) -> str:
    """The Slack app manifest ``text`` (config/slack-app-manifest.yaml) with its
    ``features.slash_commands`` made ``slack_manifest_commands()``, comments and the rest kept.

    ``marketbot slack manifest`` writes it back; a manifest without the key is an error that
    says where it goes."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == _SLASH_COMMANDS), None)
    if start is None:
        raise ValueError(f"no '{_SLASH_COMMANDS.strip()}' line under features: in the manifest; add it there")
    end = start + 1
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    dumped = yaml.safe_dump(slack_manifest_commands(commands=commands), sort_keys=False, width=1000)
    block = [f"    {line}\n" for line in dumped.splitlines()]
    return "".join([*lines[: start + 1], *block, *lines[end:]])


__all__ = [
    "COMMANDS",
    "COMMAND_NAMES",
    "FEED",
    "FEED_NAME_MAX",
    "FEED_SUBCOMMANDS",
    "FEED_URL_MAX",
    "NEWS",
    "OTHERS",
    "QUOTE",
    "SINGLE",
    "SINGLE_NAMES",
    "WATCH",
    "WATCH_SUBCOMMANDS",
    "Arg",
    "CommandSpec",
    "Sub",
    "command",
    "slack_manifest",
    "slack_manifest_commands",
    "usage_table",
]
