"""CommandService: the ``bot.ports.CommandHandler`` that the Slack, Discord and console adapters bind.

``handle`` never raises for anything a user can type: malformed calls and refused changes
answer a private Reply that says what to fix with a usage example; an unexpected failure is
logged once here and answers a private apology, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from bot.commands import grammar, spec
from bot.commands import messages as msg
from bot.commands.args import normalize
from bot.commands.feeds import FeedHandlers, feed_help
from bot.commands.grammar import Call, Command, HelpCmd, StatusCmd, UsageError
from bot.commands.options import complete_sessions
from bot.commands.permissions import PermissionDenied, Permissions
from bot.commands.quote_news import QuoteNewsHandlers
from bot.commands.registry import Handler, HandlerKey, check_handlers, handler_table, handles, run_handler
from bot.commands.spec import COMMANDS, CommandSpec
from bot.commands.watch import WatchHandlers, WatchStore
from bot.config import ChatFeedsConfig, CommandsConfig
from bot.domain.errors import BotError
from bot.domain.models import CommandContext, Reply, ReplyField, ReplyItem
from bot.domain.rules.symbols import SymbolDirectory
from bot.ports import ChartSource, Clock, CommandName, CompleteKind, FeedTester, QuoteSource

if TYPE_CHECKING:
    from bot.catalog import Catalog

log = logging.getLogger(__name__)

MAX_TEXT: Final = 4000
MAX_CHOICES: Final = 25


def _usage_kwargs() -> dict[str, int]:
    return {
        "max_quote": grammar.MAX_QUOTE_SYMBOLS,
        "default_news": grammar.DEFAULT_NEWS,
        "max_news": grammar.MAX_NEWS,
    }


def help_reply(topic: str | None = None, commands: Sequence[CommandSpec] = COMMANDS) -> Reply:
    """/watch help, /watch help COMMAND, the usage of /quote or /news, or /feed's help."""
    if topic == spec.FEED.name:
        return feed_help()
    other = spec.command(topic, commands) if topic else None
    if other is not None:
        return command_help(other, commands=commands)
    home = next(c for c in commands if c.home)
    keys = [topic] if topic else [s.name for s in home.subcommands]
    table = spec.usage_table(commands)
    items = tuple(ReplyItem(text=f, detail=w) for f, w in (_line(table, k) for k in keys))
    needs_items = topic in (None, "create", "add", "remove")
    return Reply(title=msg.HELP_TITLE, text=msg.ITEMS_LINE if needs_items else "", items=items, private=True)


def command_help(
    command: CommandSpec, topic: str | None = None, commands: Sequence[CommandSpec] = COMMANDS
) -> Reply:
    """The usage of a command, derived from the spec: its own, or each subcommand's (or one's)."""
    table = spec.usage_table(commands)
    names = [topic] if topic else [e.name for e in command.entries()]
    items = tuple(ReplyItem(text=f, detail=w) for f, w in (_line(table, command.usage_key(n)) for n in names))
    return Reply(title=msg.help_title(command.name), items=items, private=True)


def _line(table: dict[str, tuple[str, str]], key: str) -> tuple[str, str]:
    form, what = table[key]
    return form, what.format(**_usage_kwargs())


def error_reply(
    message: str,
    *,
    usage: str | None = None,
    command: str = "watch",
    denied: bool = False,
    commands: Sequence[CommandSpec] = COMMANDS,
) -> Reply:
    """A private error: what went wrong, and the usage line of the command concerned."""
    fields: tuple[ReplyField, ...] = ()
    found = spec.command(command, commands)
    key = usage or (command if found is not None and not found.subcommands else None)
    if key is not None:
        form, what = _line(spec.usage_table(commands), key)
        fields = (ReplyField("Usage", f"{form} - {what}"),)
    return Reply(
        title=msg.DENIED_TITLE if denied else msg.ERROR_TITLE,
        text=message,
        fields=fields,
        private=True,
        error=True,
    )


Dispatch = Callable[[CommandContext, Command], Awaitable[Reply]]


async def answer(dispatch: Dispatch, ctx: CommandContext, command: CommandName, text: str) -> Reply:
    """Parse ``text`` as ``/command`` and run it through ``dispatch``; user errors become private
    one-line replies with the usage concerned. Shared by chat (``CommandService``) and the CLI."""
    return await _answer(lambda call: dispatch(ctx, call.args), ctx, command, text, COMMANDS)


async def _answer(
    run: Callable[[Call], Awaitable[Reply]],
    ctx: CommandContext,
    command: CommandName,
    text: str,
    commands: Sequence[CommandSpec],
) -> Reply:
    try:
        text = normalize(text or "")
        if len(text) > MAX_TEXT:
            raise UsageError(msg.TOO_LONG.format(length=len(text), limit=MAX_TEXT))
        return await run(grammar.parse_call(command, text, commands))
    except PermissionDenied as exc:
        return error_reply(str(exc), command="", denied=True, commands=commands)
    except UsageError as exc:
        return error_reply(str(exc), usage=exc.usage, command=command, commands=commands)
    except BotError as exc:  # CommandError and anything else with a user-facing message
        return error_reply(str(exc), command="", commands=commands)
    except Exception:
        log.exception("/%s %r failed for %s:%s", command, text[:200], ctx.platform, ctx.user)
        return Reply(title=msg.ERROR_TITLE, text=msg.UNEXPECTED, private=True, error=True)


@dataclass(frozen=True, slots=True)
class CommandOptions:
    """The configuration the commands read: admins, ``commands:`` and ``chat_feeds:`` options,
    the quote timeout (``market.quote_timeout``) and the bot's time zone."""

    admins: tuple[str, ...]
    commands: CommandsConfig
    chat_feeds: ChatFeedsConfig
    quote_timeout: float
    tz: ZoneInfo


class CommandService:
    """/quote, /news, /watch and /feed for every platform (implements ``bot.ports.CommandHandler``)."""

    def __init__(
        self,
        store: WatchStore,
        catalog: Catalog,
        quotes: QuoteSource,
        charts: ChartSource | None,
        directory: SymbolDirectory,
        options: CommandOptions,
        clock: Clock,
        feeds: FeedTester | None = None,
        *,
        commands: Sequence[CommandSpec] = COMMANDS,
        handlers: Sequence[object] = (),
    ) -> None:
        """``commands`` and ``handlers`` (objects with ``@handles`` methods) add commands beyond
        marketbot's own (tests/contract/test_command_spec.py declares one)."""
        self.commands = tuple(commands)
        self.store = store
        self.catalog = catalog
        self.directory = directory
        self.options = options
        self.permissions = Permissions(
            admins=options.admins, restrict_to_admins=options.commands.restrict_to_admins
        )
        quote_timeout = options.quote_timeout + 2.0
        self.market = QuoteNewsHandlers(
            store=store,
            quotes=quotes,
            charts=charts,
            directory=directory,
            clock=clock,
            quote_timeout=quote_timeout,
            chart_timeout=max(8.0, 2 * quote_timeout),
        )
        self.watch = WatchHandlers(
            store=store,
            catalog=catalog,
            directory=directory,
            permissions=self.permissions,
            limits=options.commands,
            clock=clock,
            tz=options.tz,
        )

        self.feeds = FeedHandlers(
            store=store,
            catalog=catalog,
            tester=feeds,
            permissions=self.permissions,
            config=options.chat_feeds,
            clock=clock,
            tz=options.tz,
        )
        self.handlers: dict[HandlerKey, Handler] = handler_table(
            self, self.market, self.watch, self.feeds, *handlers
        )
        check_handlers(self.handlers, self.commands)

    def use_directory(self, directory: SymbolDirectory) -> None:
        """Use a refreshed symbol directory from now on (company names changed)."""
        self.directory = self.market.directory = self.watch.directory = directory

    async def handle(self, ctx: CommandContext, command: CommandName, text: str) -> Reply:
        """Answer one slash command; never raises for user errors (see the module docstring)."""
        return await _answer(lambda call: self.dispatch(ctx, call), ctx, command, text, self.commands)

    async def dispatch(self, ctx: CommandContext, call: Call) -> Reply:
        """Run a parsed call by its handler (raises CommandError for refusals; ``handle`` turns
        them into replies). A help without a handler of its own is derived from the spec."""
        handler = self.handlers.get(call.key)
        if handler is None:
            found = spec.command(call.command, self.commands)
            assert found is not None and call.sub == "help", f"no handler for {call.key}"
            return command_help(found, call.args.get("topic"), self.commands)
        return await run_handler(handler, ctx, call.args)

    @handles("watch", "help")
    def help(self, ctx: CommandContext, cmd: HelpCmd) -> Reply:
        return help_reply(cmd.topic, self.commands)

    @handles("watch", "status")
    async def status(self, ctx: CommandContext, cmd: StatusCmd) -> Reply:
        return await self.watch.status(ctx, self.feeds)

    async def complete(self, ctx: CommandContext, kind: CompleteKind, prefix: str) -> list[str]:
        """Autocomplete: watchlist names visible here, symbols (by symbol, then company name), or
        trading sessions (the last of a comma list, the earlier ones kept)."""
        try:
            text = normalize(prefix or "").strip().lstrip("$")[:64]
            if kind == "watchlist":
                return self._complete_watchlist(ctx, text)
            if kind == "session":
                return complete_sessions(text)
            if kind == "feed":
                return self._complete_feed(ctx, text)
            return self._complete_ticker(text)
        except Exception:  # autocomplete must answer something, whatever the input
            log.exception("autocomplete %s %r failed", kind, prefix[:64] if prefix else "")
            return []

    def _complete_watchlist(self, ctx: CommandContext, text: str) -> list[str]:
        key = text.lower()
        names = [w.name for w in self.catalog.visible(ctx.scope)]
        starts = [n for n in names if n.lower().startswith(key)]
        inside = [n for n in names if key in n.lower() and n not in starts]
        return (sorted(starts, key=str.lower) + sorted(inside, key=str.lower))[:MAX_CHOICES]

    def _complete_feed(self, ctx: CommandContext, text: str) -> list[str]:
        """This workspace's chat feed names (only for those who may manage them)."""
        if not (self.permissions.is_admin(ctx) or (ctx.platform == "discord" and ctx.can_manage_server)):
            return []
        key = text.lower()
        names = [f.name for f in self.catalog.chat_feeds(ctx.scope)]
        starts = [n for n in names if n.lower().startswith(key)]
        inside = [n for n in names if key in n.lower() and n not in starts]
        return (sorted(starts, key=str.lower) + sorted(inside, key=str.lower))[:MAX_CHOICES]

    def _complete_ticker(self, text: str) -> list[str]:
        up = text.upper()
        symbols = self.directory.symbols
        if not up:
            return sorted(symbols, key=lambda s: (len(s), s))[:MAX_CHOICES]
        out = sorted((s for s in symbols if s.startswith(up)), key=lambda s: (s != up, len(s), s))
        if len(out) < MAX_CHOICES and len(text) >= 2:
            low = text.lower()
            for company in self.directory.companies:
                if company.symbol in out:
                    continue
                if any(n.lower().startswith(low) for n in (*company.match_names, *company.names)):
                    out.append(company.symbol)
                    if len(out) >= MAX_CHOICES:
                        break
        return out[:MAX_CHOICES]
