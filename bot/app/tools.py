"""The CLI's entry points into the running parts: each opens only what one command needs.

``bot.cli`` imports ``bot.app``, ``bot.config`` and ``bot.domain`` only (an import-linter
contract): it parses arguments and prints, and everything it opens - the store, the quote
source, the calendar, the chart renderer, the feed fetcher and probe, the catalog, the chat
handlers, the console renderer - is chosen here, with the same factories ``Runtime.open`` uses
for ``marketbot run`` (``bot_clock``, ``new_catalog``, ``quote_source``, ``feed_fetcher``,
``feed_probe``). The records and pure helpers the CLI prints with are re-exported here too,
so the CLI never names the room they live in.

Import this lazily (inside a command): it loads every adapter.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.app import (
    bot_clock,
    config_warnings,
    feed_fetcher,
    feed_options,
    feed_probe,
    new_catalog,
    quote_source,
    subscription_specs,
    symbol_names,
)
from bot.chat.console import ConsoleChat, reply_json, reply_text
from bot.chat.discord_bot import (
    INVITE_PERMISSIONS,
    INVITE_SCOPES,
    clear_guild_commands,
    fetch_application_id,
    invite_url,
)
from bot.commands.feeds import FeedHandlers
from bot.commands.grammar import (
    Command,
    FeedAddCmd,
    FeedHelpCmd,
    FeedListCmd,
    FeedRemoveCmd,
    FeedTestCmd,
    OptionsCmd,
    SubscribeCmd,
)
from bot.commands.permissions import Permissions
from bot.commands.service import answer
from bot.commands.spec import slack_manifest
from bot.commands.watch import WatchHandlers
from bot.config import BotConfig, Env
from bot.delivery.briefing import BriefingPlan, BriefingService, closed_reason, exchange_name
from bot.delivery.dispatcher import DrainReport
from bot.domain.errors import BotError, CommandError, ValidationError
from bot.domain.models import (
    Alert,
    ChannelRef,
    CommandContext,
    Quote,
    Reply,
    Subscription,
    SubscriptionOptions,
)
from bot.domain.records import ChannelStats, FeedState, PlatformPause, SubscriptionSpec
from bot.domain.rules import SymbolDirectory
from bot.domain.rules.symbols import NameRefresh
from bot.domain.status import QuoteSourceStatus
from bot.domain.timeutil import ManualClock
from bot.ingest.poller import PollReport, enable_feed
from bot.ingest.sources import all_feeds, watched_tickers
from bot.logs import setup_logging
from bot.market.charts import ChartRenderer
from bot.market.quotes import YahooQuoteSource, normalize_symbol
from bot.market.sessions import ExchangeCalendar
from bot.market.symbols import load_directory
from bot.ports import CommandName
from bot.store import open_store
from bot.store.db import create_engine, current_revision, probe, redact, upgrade

__all__ = [
    "INVITE_PERMISSIONS",
    "INVITE_SCOPES",
    "BriefingPlan",
    "ChannelStats",
    "CommandName",
    "DrainReport",
    "ExchangeCalendar",
    "FeedState",
    "PlatformPause",
    "PollReport",
    "QuoteResult",
    "QuoteSourceStatus",
    "SubscriptionState",
    "SymbolSummary",
    "bot_clock",
    "briefing_plans",
    "bundled_directory",
    "clear_guild_commands",
    "closed_reason",
    "config_warnings",
    "db_probe",
    "db_upgrade",
    "exchange_name",
    "feed_states",
    "fetch_application_id",
    "fetch_quotes",
    "invite_url",
    "normalize_symbol",
    "print_alerts",
    "redact",
    "refresh_symbols",
    "reply_json",
    "reply_text",
    "run_command",
    "setup_logging",
    "slack_manifest",
    "stored_directory",
    "subscription_state",
    "symbol_summary",
]


# ---------------------------------------------------------------- market: quote


@dataclass(frozen=True)
class QuoteResult:
    """What ``marketbot quote`` prints: the quotes, the chart (or why not), the source's state."""

    quotes: dict[str, Quote]
    png: bytes | None
    chart_error: str | None
    status: QuoteSourceStatus


async def fetch_quotes(env: Env, cfg: BotConfig, symbols: list[str], *, chart: bool) -> QuoteResult:
    """Quotes for ``symbols`` (and, with ``chart``, a PNG of the first one when all have a price).

    No cache directory and the system clock: a one-shot look-up, like the quote command's.
    """
    calendar = ExchangeCalendar(cfg.market.exchange)
    async with YahooQuoteSource(cfg.market, calendar, yahoo_url=env.yahoo_url) as source:
        quotes = await source.quotes(symbols)
        png = chart_error = None
        if chart and all(q.available for q in quotes.values()):
            renderer = ChartRenderer(source, calendar, theme=cfg.market.chart_theme, timeout=10.0)
            try:
                png = await renderer.chart(symbols[0])
            except BotError as exc:
                chart_error = str(exc)
            finally:
                await renderer.aclose()
        return QuoteResult(quotes, png, chart_error, source.status())


# ---------------------------------------------------------------- briefing


async def briefing_plans(
    env: Env, cfg: BotConfig, at: datetime, watchlist: str | None
) -> list[tuple[Subscription, BriefingPlan]]:
    """Open the store, catalog and quotes (at ``at``) and prepare each briefing; nothing is queued."""
    clock = ManualClock(at)
    calendar = ExchangeCalendar(cfg.market.exchange)
    async with open_store(env.database_url) as store:
        await store.sync_config_subscriptions(subscription_specs(cfg))
        directory = await asyncio.to_thread(load_directory, cfg.aliases)
        catalog = new_catalog(store, cfg, directory)
        await catalog.reload()
        subs = [s for s in await store.list_subscriptions() if s.options.briefing == "premarket"]
        if watchlist is not None:
            found = [w for w in catalog.all() if w.name.lower() == watchlist.lower()]
            if not found:
                known = ", ".join(sorted({w.name for w in catalog.all()})) or "none"
                raise ValidationError(f"no watchlist named {watchlist!r}; known watchlists: {known}")
            chosen = next((w for w in found if w.scope == "config"), found[0])
            mine = [s for s in subs if s.scope == chosen.scope and s.watchlist.lower() == chosen.name.lower()]
            subs = mine[:1] or [
                Subscription(
                    id=0,
                    watchlist=chosen.name,
                    scope=chosen.scope,
                    channel=ChannelRef("console", "console"),
                    options=SubscriptionOptions(briefing="premarket"),
                )
            ]
        async with quote_source(env, cfg, calendar, clock) as quotes:
            service = BriefingService(store, catalog, quotes, calendar, cfg.briefing, clock, tz=cfg.tz)
            return [(s, await service.prepare(s, at)) for s in sorted(subs, key=lambda s: s.id)]


async def print_alerts(alerts: Sequence[Alert], when: datetime) -> None:
    """Render each alert on stdout as the console adapter shows a delivered one, as of ``when``."""
    console = ConsoleChat(stream=sys.stdout, clock=ManualClock(when))
    for alert in alerts:
        await console.send(alert, target=alert.channel)


# ---------------------------------------------------------------- feeds and subscriptions


async def feed_states(env: Env, cfg: BotConfig, *, enable: str | None = None) -> list[FeedState]:
    """The feeds the config implies (with the tickers of chat watchlists), with their stored state.

    Nothing is written, except that ``enable`` (a feed id or name) clears that feed's
    automatic disable so that the running bot polls it again.
    """
    async with open_store(env.database_url) as store:
        stored = {s.id: s for s in await store.list_feeds()}
        if enable is not None:
            matches = [s for s in stored.values() if s.id == enable] or [
                s for s in stored.values() if s.spec.name.lower() == enable.lower()
            ]
            if len(matches) != 1:
                what = "several feeds are" if matches else "no feed is"
                raise ValidationError(
                    f"{what} called {enable!r}; `marketbot feeds --json` lists every feed's id"
                )
            fresh = await enable_feed(store, matches[0].id)
            assert fresh is not None
            stored[fresh.id] = fresh
        watchlists = [*cfg.domain_watchlists(), *await store.list_watchlists()]
        chat = await store.list_chat_feeds()
    out = []
    for src in all_feeds(feed_options(cfg), watchlists, chat=chat):
        state = stored.pop(src.id, None)
        out.append(replace(state, spec=src.spec) if state is not None else FeedState(spec=src.spec))
    # sources the app adds itself (Yahoo ticker news); removed chat feeds are not polled any more
    out += [s for s in stored.values() if s.spec.origin not in ("config", "ticker", "chat")]
    return out


@dataclass(frozen=True)
class SubscriptionState:
    """Every subscription with its delivery figures, and the platforms whose delivery is paused."""

    subscriptions: list[Subscription]
    stats: Mapping[int, ChannelStats]
    pauses: Mapping[str, PlatformPause]


async def subscription_state(env: Env, cfg: BotConfig, *, repair: int | None = None) -> SubscriptionState:
    """Open the database, mirror the config's subscriptions (as ``run`` does), read their state.

    ``repair`` marks that subscription active again first (the user says the channel is fixed).
    """
    async with open_store(env.database_url) as store:
        await store.sync_config_subscriptions(
            [SubscriptionSpec(s.watchlist, s.channel_ref, s.options()) for s in cfg.subscriptions]
        )
        if repair is not None:
            sub = await store.get_subscription(repair)
            if sub is None:
                raise ValidationError(
                    f"there is no subscription {repair}; `marketbot subscriptions` lists them"
                )
            await store.mark_subscription_broken(repair, None)
        subs = await store.list_subscriptions()
        stats = await store.channel_stats()
        pauses = await store.platform_pauses()
    return SubscriptionState(subs, stats, pauses)


# ---------------------------------------------------------------- chat commands from the CLI


async def run_command(
    env: Env, cfg: BotConfig, ctx: CommandContext, command: CommandName, text: str
) -> Reply:
    """Run ``/command text`` as ``ctx`` against the database, with chat's handlers."""
    clock = bot_clock(env)
    async with open_store(env.database_url) as store:
        directory = await symbol_names(store, cfg, clock=clock).directory()
        catalog = new_catalog(store, cfg, directory)
        await catalog.reload()
        permissions = Permissions(admins=cfg.admins, restrict_to_admins=cfg.commands.restrict_to_admins)
        async with feed_fetcher(cfg) as fetcher:
            feeds = FeedHandlers(
                store=store,
                catalog=catalog,
                tester=feed_probe(cfg, fetcher, clock),
                permissions=permissions,
                config=cfg.chat_feeds,
                clock=clock,
                tz=cfg.tz,
            )
            watch = WatchHandlers(
                store=store,
                catalog=catalog,
                directory=directory,
                permissions=permissions,
                limits=cfg.commands,
                clock=clock,
                tz=cfg.tz,
            )

            async def dispatch(ctx: CommandContext, cmd: Command) -> Reply:
                match cmd:
                    case FeedAddCmd() | FeedListCmd() | FeedRemoveCmd() | FeedTestCmd() | FeedHelpCmd():
                        return await feeds.run(ctx, cmd)
                    case SubscribeCmd():
                        return await watch.subscribe(ctx, cmd)
                    case OptionsCmd():
                        return await watch.options(ctx, cmd)
                raise CommandError(f"{type(cmd).__name__} is not available from the command line")

            return await answer(dispatch, ctx, command, text)


# ---------------------------------------------------------------- symbols


def bundled_directory(cfg: BotConfig) -> SymbolDirectory:
    """The bundled symbol index with the config's aliases (no database)."""
    return load_directory(cfg.aliases)


async def stored_directory(env: Env, cfg: BotConfig) -> SymbolDirectory:
    """The directory the running bot uses: bundled index + stored names + config aliases."""
    async with open_store(env.database_url) as store:
        return await symbol_names(store, cfg, clock=bot_clock(env)).directory()


async def refresh_symbols(env: Env, cfg: BotConfig) -> tuple[list[str], bool]:
    """Fetch SEC's company list and the quote names of every watched ticker now; (lines, failed)."""
    clock = bot_clock(env)
    async with open_store(env.database_url) as store:
        watchlists = [*cfg.domain_watchlists(), *(await store.list_watchlists())]
        symbols = watched_tickers(watchlists)
        calendar = ExchangeCalendar(cfg.market.exchange)
        async with quote_source(env, cfg, calendar, clock) as quotes:
            names = symbol_names(store, cfg, clock=clock, quotes=quotes)
            report = await names.refresh(symbols, force=True)
        failed = any(": error" in line or "not fetched" in line for line in report.lines)
        return [*report.lines, f"{len(symbols)} watched tickers"], failed


@dataclass(frozen=True)
class SymbolSummary:
    """The stored directory and when each of its sources was last checked."""

    directory: SymbolDirectory
    refreshes: Mapping[str, NameRefresh]


async def symbol_summary(env: Env, cfg: BotConfig) -> SymbolSummary:
    async with open_store(env.database_url) as store:
        directory = await symbol_names(store, cfg, clock=bot_clock(env)).directory()
        refreshes = await store.symbol_refreshes()
    return SymbolSummary(directory, refreshes)


# ---------------------------------------------------------------- database


async def db_probe(env: Env) -> str:
    """What ``marketbot check`` says of the database URL (nothing is written)."""
    return await probe(env.database_url)


async def db_upgrade(env: Env) -> tuple[str | None, str]:
    """Apply the migrations; (revision before, revision after)."""
    engine = create_engine(env.database_url)
    try:
        before, _ = await current_revision(engine)
        await upgrade(engine)
        after, _ = await current_revision(engine)
        return before, after or ""
    finally:
        await engine.dispose()
