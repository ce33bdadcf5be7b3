"""The grammar of every slash command, derived from its spec: text in, a typed value out, or a UsageError.

``parse_call`` finds the command and subcommand (by name, alias, or a close misspelling to
suggest), then reads each ``Arg`` of its spec entry in order: positional ones take a word
(``rest`` ones every remaining word), ``named`` ones are written ``NAME VALUE`` in any order.
A value is read by the ``Arg``'s own ``parse`` when it has one (``bot.commands.parsers``),
otherwise by its kind (text, int, on/off), bounds and choices. An entry whose line has a
grammar of its own names it (``grammar``). The values become the entry's ``record``.
``help [TOPIC]`` is the same for every command with subcommands.

Parsing is pure and knows nothing of the store or the symbol directory: it checks shapes
(names, symbols, numbers, durations, argument counts). What the arguments mean (is NVDA
a known symbol, may this user edit that watchlist) is the handlers' business.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bot.commands import messages as msg
from bot.commands import spec
from bot.commands.args import Token, iter_tokens
from bot.commands.parsers import (
    DEFAULT_NEWS,
    FEED_NAME_MAX,
    MAX_MUTE,
    MAX_NEWS,
    MAX_QUOTE_SYMBOLS,
    MAX_URL,
    MIN_MUTE,
    UsageError,
    duration,
    feed_name,
    feed_url,
    interval,
    split_commas,
    symbol,
    watchlist_name,
)
from bot.commands.records import (
    Args,
    Command,
    DeleteCmd,
    EditCmd,
    FeedAddCmd,
    FeedCmd,
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
from bot.commands.spec import Arg, CommandSpec, Sub
from bot.domain.errors import CommandError

_ON: Final = frozenset({"on", "yes", "true"})
_OFF: Final = frozenset({"off", "no", "false"})


@dataclass(frozen=True, slots=True)
class Call:
    """A parsed call: the command, the subcommand (``""`` for a command without), and the value
    its handler gets (the entry's ``record``)."""

    command: str
    sub: str
    args: Any

    @property
    def key(self) -> tuple[str, str]:
        return (self.command, self.sub)


def parse(command: str, text: str) -> Command:
    """Parse the text after ``/command``; raise UsageError (a CommandError)."""
    return parse_call(command, text).args  # type: ignore[no-any-return]


def parse_call(command: str, text: str, commands: Sequence[CommandSpec] = spec.COMMANDS) -> Call:
    """Parse the text after ``/command`` (one of ``commands``) into a ``Call``; raise UsageError."""
    found = spec.command(command, commands)
    if found is None:
        raise UsageError(msg.no_command(str(command)[:20], [c.name for c in commands]))
    try:
        return _parse(found, text, commands)
    except UsageError:
        raise
    except CommandError as exc:  # the tokenizer's (an unclosed quote): show the command's usage
        raise UsageError(str(exc), _error_usage(found)) from None


def _error_usage(command: CommandSpec) -> str | None:
    """The usage a malformed line shows when no subcommand is known: the command's or its help."""
    if not command.subcommands:
        return command.name
    return None if command.home else command.usage_key("help")


def _parse(command: CommandSpec, text: str, commands: Sequence[CommandSpec]) -> Call:
    tokens = iter_tokens(text)
    if not any(e.grammar for e in command.entries()):
        # no entry reads the raw rest of the line (a query): split it all first, so an unclosed
        # quote anywhere is what the user hears about before an unknown subcommand
        tokens = iter(list(tokens))
    if not command.subcommands:
        return _entry(command, command.entries()[0], text, tokens)
    first = next(tokens, None)
    if first is None:
        return _help(command, [], commands)
    entry = _subcommand(command, first.text)
    if entry.name == "help":
        return _help(command, list(tokens), commands)
    return _entry(command, entry, text, tokens)


def _subcommand(command: CommandSpec, word: str) -> Sub:
    """The subcommand ``word`` names (its name or an alias), or a UsageError suggesting one."""
    key = word.lower()
    for sub in command.subcommands:
        if key == sub.name or key in sub.aliases:
            return sub
    names = [s.name for s in command.subcommands]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    shown = word if len(word) <= 30 else word[:27] + "..."
    raise UsageError(
        msg.unknown_subcommand_of(command.name, shown, close[0] if close else None), _error_usage(command)
    )


def _help(command: CommandSpec, args: list[Token], commands: Sequence[CommandSpec]) -> Call:
    """``help [TOPIC]``: a subcommand to explain; /watch's also takes another command's name."""
    entry = command.sub("help")
    assert entry is not None, f"/{command.name} has subcommands but no help"
    topic: str | None = None
    if args:
        word = args[0].text.lstrip("/")
        word = word.lower() if command.home else word
        other = spec.command(word.lower(), commands) if command.home else None
        if other is not None and other.subcommands and other is not command:
            return _help(other, [], commands)  # /watch help feed: /feed's help
        topic = other.name if other is not None and not other.subcommands else _subcommand(command, word).name
    return Call(command.name, "help", entry.record(**({"topic": topic} if topic else {})))


def _entry(command: CommandSpec, entry: Sub, text: str, tokens: Iterator[Token]) -> Call:
    key = command.usage_key(entry.name)
    if entry.grammar is not None:
        values = dict(entry.grammar(text, tokens, key))
    else:
        values = read_args(entry.args, list(tokens), key, lambda: command.usage_form(entry))
    return Call(command.name, entry.name, entry.record(**values))


def read_args(args: Sequence[Arg], tokens: list[Token], key: str, form: Callable[[], str]) -> dict[str, Any]:
    """The values of ``args`` in ``tokens``: positional ones in order, then ``NAME VALUE`` pairs
    (``form`` gives the usage form an error shows)."""
    values: dict[str, Any] = {}
    i = 0
    for arg in (a for a in args if not a.named):
        if i >= len(tokens):
            if arg.required:
                raise UsageError(msg.needs_form(form(), arg.missing or f"a {arg.shown}"), key)
            continue
        took = tokens[i:] if arg.rest else tokens[i : i + 1]
        i += len(took)
        values[arg.key] = _value(arg, took, key)
    named = {a.name: a for a in args if a.named}
    rest = tokens[i:]
    while rest:
        word = rest[0]
        pair = None if word.quoted else named.get(word.text.lower())
        if pair is None:
            raise UsageError(msg.extra_arguments_form(form(), [t.shown for t in rest]), key)
        if len(rest) < 2:
            raise UsageError(msg.needs_form(form(), pair.missing or f"{pair.shown} after {pair.name}"), key)
        took = rest[1:] if pair.rest else rest[1:2]
        rest = rest[1 + len(took) :]
        values[pair.key] = _value(pair, took, key)
    return values


def _value(arg: Arg, took: Sequence[Token], key: str) -> Any:
    """One argument's value: its own parser's, or checked against its kind, bounds and choices."""
    if arg.parse is not None:
        return arg.parse(took, key)
    text = " ".join(t.text for t in took)
    if arg.choices:
        allowed = [value for _label, value in arg.choices]
        if text.lower() not in allowed:
            raise UsageError(msg.not_a_choice(arg.name, text, allowed), key)
        return text.lower()
    if arg.kind == "bool":
        if text.lower() not in _ON | _OFF:
            raise UsageError(msg.not_on_off(arg.name, text), key)
        return text.lower() in _ON
    if arg.kind == "int":
        if arg.zero is not None and text.lower() == arg.zero:
            return 0
        if arg.suffix and text.endswith(arg.suffix):  # as Discord's options are written (max 10/h)
            text = text[: -len(arg.suffix)]
        low = arg.low if arg.low is not None else 0
        if not text.isdigit() or int(text) < low or (arg.high is not None and int(text) > arg.high):
            raise UsageError(msg.not_a_number(arg.name, text, low, arg.high), key)
        return int(text)
    if (arg.low is not None and len(text) < arg.low) or (arg.high is not None and len(text) > arg.high):
        raise UsageError(msg.bad_length(arg.name, text, arg.low or 0, arg.high), key)
    return text


__all__ = [
    "DEFAULT_NEWS",
    "FEED_NAME_MAX",
    "MAX_MUTE",
    "MAX_NEWS",
    "MAX_QUOTE_SYMBOLS",
    "MAX_URL",
    "MIN_MUTE",
    "Args",
    "Call",
    "Command",
    "DeleteCmd",
    "EditCmd",
    "FeedAddCmd",
    "FeedCmd",
    "FeedHelpCmd",
    "FeedListCmd",
    "FeedRemoveCmd",
    "FeedTestCmd",
    "HelpCmd",
    "ListCmd",
    "MuteCmd",
    "NewsCmd",
    "OptionsCmd",
    "QueryCmd",
    "QuoteCmd",
    "ShowCmd",
    "StatusCmd",
    "SubscribeCmd",
    "SubscriptionsCmd",
    "TestCmd",
    "UnmuteCmd",
    "UnsubscribeCmd",
    "UsageError",
    "duration",
    "feed_name",
    "feed_url",
    "interval",
    "parse",
    "parse_call",
    "read_args",
    "split_commas",
    "symbol",
    "watchlist_name",
]
