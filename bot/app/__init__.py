"""Composition root: settings → concrete adapters → one lifecycle on one event loop.

``Runtime`` opens everything in an ``AsyncExitStack`` (store, market data, chat platforms,
pipeline, dispatcher, poller) and closes it in reverse order. ``run_bot`` adds the scheduler
and the HTTP server and runs until SIGINT/SIGTERM; ``poll_once`` runs one full cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import bot
from bot.app.interpreter import settle, tune_interpreter
from bot.catalog import Catalog
from bot.chat.console import ConsoleChat
from bot.cluster import CATALOG_FOLLOW, DEAD_AFTER, GATEWAY_LEASE, HEARTBEAT, FeedShare, Node
from bot.cluster.gateway import GatewayLeader
from bot.commands import CommandService
from bot.commands.service import CommandOptions
from bot.config import BotConfig, Env, watchlist_warnings
from bot.delivery.briefing import BriefingService
from bot.delivery.digests import HeldReleaser
from bot.delivery.dispatcher import Dispatcher, DrainReport
from bot.delivery.moves import MoveMonitor
from bot.delivery.notices import Notices
from bot.delivery.pipeline import AlertPipeline
from bot.domain.cluster import CATALOG_VERSION
from bot.domain.errors import BotError, ConfigError
from bot.domain.models import Story, StorySource, Watchlist
from bot.domain.records import FeedSpec, PlatformPause, SubscriptionSpec
from bot.domain.rules import SymbolDirectory
from bot.domain.timeutil import OffsetClock, SystemClock
from bot.ingest.fetcher import Fetcher
from bot.ingest.poller import Poller, PollReport
from bot.ingest.probe import FeedProbe
from bot.ingest.sources import FeedOptions, FeedSource, all_feeds, news_source, watched_tickers
from bot.ingest.sources import feed_specs as _feed_specs
from bot.logs import setup_logging
from bot.market.charts import ChartRenderer
from bot.market.charts import warm_up as warm_up_charts
from bot.market.news import YahooNewsSource
from bot.market.quotes import YahooQuoteSource
from bot.market.sessions import ExchangeCalendar
from bot.market.symbols import CompanyNameSource, SymbolNames, SymbolNameStore, load_directory
from bot.metrics import METRICS
from bot.ports import ChatAdapter, Clock, Job
from bot.scheduler import Scheduler
from bot.store import SqlStore, open_store
from bot.store.db import one_process
from bot.web import WebServer

log = logging.getLogger(__name__)

__all__ = ["Runtime", "cluster_status", "config_warnings", "feed_specs", "poll_once", "run_bot"]

HANDOFF_SWEEP = 30.0  # seconds between sweeps that finish hand-offs left pending
RETENTION_EVERY = 3600.0  # seconds between retention runs (the first one shortly after start)
RETENTION_FIRST = 300.0


def subscription_specs(cfg: BotConfig) -> list[SubscriptionSpec]:
    """The config's subscriptions as store specs (scope "config": they name config watchlists)."""
    return [
        SubscriptionSpec(s.watchlist, s.channel_ref, s.options(), scope="config") for s in cfg.subscriptions
    ]


def config_warnings(cfg: BotConfig, directory: SymbolDirectory | None = None) -> list[str]:
    """Warnings about a valid config (unknown tickers, with the nearest known symbols)."""
    return watchlist_warnings(cfg, directory or load_directory(cfg.aliases))


def feed_options(cfg: BotConfig) -> FeedOptions:
    """The slice of the config that decides which feeds are polled."""
    return FeedOptions(
        feeds=cfg.feeds, ticker_feeds=cfg.ticker_feeds, ticker_interval=cfg.ingest.ticker_feed_interval
    )


def feed_specs(cfg: BotConfig, watchlists: Iterable[Watchlist] | None = None) -> list[FeedSpec]:
    """The specs of every HTTP feed the config implies (watchlists default to the config's own)."""
    return _feed_specs(feed_options(cfg), cfg.domain_watchlists() if watchlists is None else watchlists)


def command_options(cfg: BotConfig) -> CommandOptions:
    """The slice of the config the slash commands read."""
    return CommandOptions(
        admins=tuple(cfg.admins),
        commands=cfg.commands,
        chat_feeds=cfg.chat_feeds,
        quote_timeout=cfg.market.quote_timeout,
        tz=cfg.tz,
    )


def symbol_names(
    store: SymbolNameStore, cfg: BotConfig, *, clock: Clock, quotes: CompanyNameSource | None = None
) -> SymbolNames:
    """Company names kept fresh per the config's ``symbols:``, aliases and ``ingest.contact``."""
    return SymbolNames(
        store, cfg.symbols, aliases=cfg.aliases, contact=cfg.ingest.contact, clock=clock, quotes=quotes
    )


def secrets_of(env: Env) -> list[str]:
    """Every secret value, for log redaction."""
    values = [env.slack_bot_token, env.slack_app_token, env.slack_signing_secret, env.discord_bot_token]
    return [v.get_secret_value() for v in values if v is not None]


@dataclass
class Runtime:
    """Everything a running bot is made of; open with ``async with Runtime.open(...)``."""

    env: Env
    config: BotConfig
    clock: Clock
    store: SqlStore
    catalog: Catalog
    calendar: ExchangeCalendar
    quotes: YahooQuoteSource
    charts: ChartRenderer
    adapters: dict[str, ChatAdapter]
    commands: CommandService
    pipeline: AlertPipeline
    dispatcher: Dispatcher
    releaser: HeldReleaser
    poller: Poller
    briefings: BriefingService
    moves: MoveMonitor
    symbols: SymbolNames
    notices: Notices
    node: Node
    stack: AsyncExitStack
    catalog_seen: int = 0  # the stored watchlists' version the catalog was compiled from
    # ``compile_later``: the matcher's first compile, running in a worker thread
    compiling: asyncio.Task[None] | None = None
    started_at: float = field(default_factory=time.monotonic)
    stats: dict[str, float] = field(default_factory=dict)
    _symbol_lines: set[str] = field(default_factory=set)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        env: Env,
        cfg: BotConfig,
        *,
        clock: Clock | None = None,
        console_json: bool = False,
        console_stream: IO[str] | None = None,
        connect_chat: bool = True,
        listen: bool = True,
        role: str = "run",
        warm_up: bool = True,
        compile_later: bool = False,
    ) -> Any:
        """Build and open every component.

        ``connect_chat`` False leaves Slack and Discord out entirely; ``listen`` False connects
        them send-only (no slash commands). ``role`` names the command in the message that refuses
        a second process on the same SQLite file. ``warm_up`` False: the caller runs
        ``Runtime.warm_up`` itself (``marketbot run`` does, once it is up). ``compile_later``:
        the matcher compiles in a worker thread from ``catalog.begin()`` on (``compiling``: the
        caller begins it once up); the ingest of polled items, and what the caller starts, await
        ``catalog.compiled()``.
        """
        require_extras(env, cfg)
        clock = clock or bot_clock(env)
        if env.now:
            log.warning(
                "MARKETBOT_NOW is set: the bot's clock reads %s", clock.now().isoformat(timespec="seconds")
            )
        async with AsyncExitStack() as stack:
            stack.enter_context(one_process(env.database_url, role))
            store = await stack.enter_async_context(open_store(env.database_url))
            node = Node(
                store,
                clock,
                replica_id=METRICS.replica,
                host=socket.gethostname(),
                pid=os.getpid(),
                version=bot.__version__,
            )
            await node.run_once()  # visible to the other replicas (and `marketbot status`) at once
            stack.push_async_callback(_leave, node)  # runs last: leases and feed claims go back
            await store.sync_config_subscriptions(subscription_specs(cfg))
            symbols = symbol_names(store, cfg, clock=clock)
            directory = await symbols.directory()  # bundled index + stored SEC and quote names
            for warning in config_warnings(cfg, directory):
                log.warning("%s: %s", env.config_path, warning)
            catalog = new_catalog(store, cfg, directory)
            catalog_seen = await store.version(CATALOG_VERSION)
            compiling = None
            if compile_later:
                compiling = await catalog.start()
                stack.push_async_callback(_cancel, compiling)
            else:
                await catalog.reload()
            # built at its first use or by run_bot's warm-up thread: start-up does not wait for it
            calendar = ExchangeCalendar(cfg.market.exchange, deferred=True)
            cache_dir = data_dir(env) / "cache"
            quotes = await stack.enter_async_context(quote_source(env, cfg, calendar, clock))
            symbols.quotes = quotes
            charts = ChartRenderer(quotes, calendar, clock=clock, theme=cfg.market.chart_theme)
            if connect_chat and listen and warm_up:
                await asyncio.to_thread(warm_up_charts)
            stack.push_async_callback(charts.aclose)

            adapters: dict[str, ChatAdapter] = {}
            console = ConsoleChat(json_mode=console_json, stream=console_stream, clock=clock)
            adapters["console"] = console
            # one fetcher for config and chat feeds; chat feeds go through its SSRF guard, which
            # lets through only public addresses and the operator's chat_feeds.allow_networks
            fetcher = await stack.enter_async_context(feed_fetcher(cfg))
            probe = feed_probe(cfg, fetcher, clock)
            commands = CommandService(
                store, catalog, quotes, charts, directory, command_options(cfg), clock, feeds=probe
            )
            if connect_chat:
                for platform, adapter in await _chat_adapters(
                    env, cfg, commands, clock, stack, listen=listen, node=node, store=store
                ):
                    adapters[platform] = adapter

            pipeline = AlertPipeline(
                store, catalog, quotes, calendar, cfg.delivery, clock, tz=cfg.tz, max_age=cfg.ingest.max_age
            )
            stack.push_async_callback(pipeline.aclose)
            notices = Notices(store, cfg.notify, clock, tz=cfg.tz)
            stack.push_async_callback(notices.aclose)
            dispatcher = Dispatcher(
                store,
                adapters,
                cfg.delivery,
                clock,
                worker_id=node.id,
                on_change=notices.wake,
                # replicas: a dead one's claimed alerts are taken over once it is seen dead
                dead_after=DEAD_AFTER if store.dialect == "postgresql" else None,
            )
            notices.on_queued = dispatcher.wake
            stack.push_async_callback(dispatcher.aclose)
            releaser = HeldReleaser(store, cfg.delivery, clock, tz=cfg.tz)
            briefings = BriefingService(
                store, catalog, quotes, calendar, cfg.briefing, clock, tz=cfg.tz, on_queued=dispatcher.wake
            )
            moves = MoveMonitor(
                store, catalog, quotes, calendar, cfg.move_alerts, clock, tz=cfg.tz, on_queued=dispatcher.wake
            )

            async def on_stories(stories: list[Story]) -> None:
                if await pipeline.process(stories):
                    dispatcher.wake()

            async def on_sources(pairs: list[tuple[str, StorySource]]) -> None:
                if await pipeline.process_new_sources(pairs):
                    dispatcher.wake()

            yahoo = _yahoo_news(env, cfg, catalog, clock, cache_dir, stack)

            def sources() -> Sequence[FeedSource]:
                return all_feeds(feed_options(cfg), catalog.all(), extra=yahoo, chat=catalog.chat_feeds())

            poller = Poller(
                store=store,
                sources=sources,
                config=cfg.ingest,
                fetcher=fetcher,
                on_stories=on_stories,
                on_sources=on_sources,
                clock=clock,
                # PostgreSQL: replicas share the feeds; SQLite is one process, nothing to share
                share=FeedShare(node, store) if store.dialect == "postgresql" else None,
            )
            # stories cluster by identity: near-identical titles must name the same tickers
            # (while the first compile runs, polled items wait for it without blocking the loop)
            poller.ingestor.use_entities(
                lambda title: catalog.matcher.tickers(title),
                ready=catalog.compiled if compiling is not None else None,
            )
            if poller.share is not None:  # replicas: one story index, serialised through the database
                poller.ingestor.use_replicas(store.ingest_section)
            await stack.enter_async_context(poller)
            yield cls(
                env=env,
                config=cfg,
                clock=clock,
                store=store,
                catalog=catalog,
                calendar=calendar,
                quotes=quotes,
                charts=charts,
                adapters=adapters,
                commands=commands,
                pipeline=pipeline,
                dispatcher=dispatcher,
                releaser=releaser,
                briefings=briefings,
                moves=moves,
                notices=notices,
                poller=poller,
                symbols=symbols,
                node=node,
                stack=stack,
                catalog_seen=catalog_seen,
                compiling=compiling,
            )

    def warm_up(self, charts: bool) -> None:
        """Build the exchange calendar and (``charts``) import matplotlib and its font cache:
        a second or more of CPU-bound Python each, for a worker thread. Raises ValidationError
        for an unknown exchange."""
        self.calendar.load()
        if charts:
            warm_up_charts()

    async def refresh_symbols(self) -> None:
        """Fetch what is due of SEC's company list (daily) and the quote names of watched
        tickers (weekly); recompile the matcher when a name changed."""
        report = await self.symbols.refresh(watched_tickers(self.catalog.all()))
        for line in report.lines:
            if line not in self._symbol_lines:
                log.info("symbol directory: %s", line)
        self._symbol_lines = set(report.lines)
        if report.changed:
            directory = await self.symbols.directory()
            await self.catalog.use_directory(directory)
            self.commands.use_directory(directory)
            log.info("symbol directory: %d symbols of %d companies", len(directory), len(directory.companies))

    # ------------------------------------------------------------ health and metrics

    async def health(self) -> dict[str, Any]:
        """Liveness and readiness: the store answers; chat platforms' connection state."""
        checks: dict[str, Any] = {}
        status = "ok"
        try:
            await asyncio.wait_for(self.store.has_marker("health"), timeout=3)
            checks["database"] = "ok"
        except (TimeoutError, OSError, BotError, Exception) as exc:
            checks["database"] = f"error: {exc}"
            status = "error"
        for name, adapter in self.adapters.items():
            checks[name] = adapter.status()
        problems: list[str] = []
        for platform, pause in self.dispatcher.platform_status().items():
            entry = checks.get(platform)
            checks[platform] = {**(entry if isinstance(entry, dict) else {}), "delivery": pause}
            problems.append(
                f"{platform} delivery paused since {pause['since']} (alerts stay queued): {pause['reason']}"
            )
        if problems and status == "ok":
            status = "degraded"
        quotes = self.quotes.status()
        checks["quotes"] = {
            "breaker": quotes.breaker.state,
            "consecutive_failures": quotes.breaker.consecutive_failures,
            "last_error": quotes.last_error,
            "cached_symbols": quotes.cached_symbols,
        }
        return {
            "status": status,
            "version": bot.__version__,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "problems": problems,
            "checks": checks,
        }

    def calendar_jobs(self) -> list[Job]:
        """The jobs that read the exchange calendar (and build it, the first time)."""
        return [
            *self.briefings.jobs(),  # daily at briefing.time, plus the start-up catch-up of a missed one
            *self.moves.jobs(),  # every move_alerts.interval seconds (nothing without thresholds)
        ]

    def jobs(self, *, calendar: bool = True) -> list[Job]:
        """Everything that runs on a schedule, in one table (``bot.scheduler`` runs it);
        ``calendar`` False: without ``calendar_jobs()`` (``marketbot run`` adds them once its
        worker thread has built the calendar).

        The poller's per-feed jobs are added by ``poller.attach`` (they follow feed edits).
        ``once_cluster_wide``: with several replicas one of them runs each tick.
        """
        jobs = [
            Job("delivery:held", self.releaser.run_once, every=60, once_cluster_wide=True),
            # hand-offs left by a crash or a database error; follow-ups whose throttle ended
            Job("delivery:handoffs", self.pipeline.resume, every=HANDOFF_SWEEP, once_cluster_wide=True),
            Job("catalog:reload", self.catalog.reload, every=300),
            Job("cluster:heartbeat", self.heartbeat, every=HEARTBEAT),
            Job("catalog:follow", self.follow_catalog, every=CATALOG_FOLLOW),
            # each symbol source is fetched only when due (SEC daily, quote names weekly)
            Job("symbols:refresh", self.refresh_symbols, every=3600, once_cluster_wide=True),
            Job(
                "store:retention",
                self.purge,
                every=RETENTION_EVERY,
                first_in=RETENTION_FIRST,
                once_cluster_wide=True,
            ),
        ]
        if calendar:
            jobs += self.calendar_jobs()
        if self.notices.enabled:
            jobs.append(Job("notices:sweep", self.notices.sweep, every=60, once_cluster_wide=True))
        return jobs

    async def purge(self) -> None:
        """The hourly purge of what is older than ``retention`` (small batches, yielding in between)."""
        report = await self.store.purge(
            before=self.clock.now() - timedelta(seconds=self.config.retention),
            pause=0.05,
            deadline=RETENTION_EVERY / 4,
        )
        self.stats["retention_rows_total"] = self.stats.get("retention_rows_total", 0.0) + report.rows
        if report.rows:
            log.info(
                "retention: purged %d rows older than %g days in %.1f s (%s)%s",
                report.rows,
                self.config.retention / 86400,
                report.seconds,
                ", ".join(f"{k} {v}" for k, v in report.as_dict().items() if k in _PURGED and v),
                "" if report.complete else "; the rest next time",
            )

    async def heartbeat(self) -> None:
        """This replica's heartbeat; then the feeds of replicas that died or left, taken over on time."""
        await self.node.run_once()
        await self.poller.follow_owners()

    async def follow_catalog(self) -> bool:
        """Recompile when a watchlist changed in the database (an edit on any replica); True if so.

        Cheap when nothing changed: one indexed read of a counter. Run every
        ``CATALOG_FOLLOW`` seconds, so an edit reaches every replica within that time.
        """
        seen = await self.store.version(CATALOG_VERSION)
        if seen == self.catalog_seen:
            return False
        self.catalog_seen = seen
        await self.catalog.reload()
        return True

    async def ready(self) -> dict[str, Any]:
        """Readiness (``/readyz``): the database answers and every chat platform is connected."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.store.has_marker("health"), timeout=3)
            checks["database"] = "ok"
        except (TimeoutError, OSError, BotError, Exception) as exc:
            checks["database"] = f"error: {exc}"
        for name, adapter in self.adapters.items():
            if name == "console":
                continue
            status = adapter.status()
            connected = (
                status.get("connected", True)
                or status.get("mode") == "http"
                or status.get("gateway") == "standby"  # another replica holds the gateway session
            )
            checks[name] = "ok" if connected else "not connected"
        ready = all(v == "ok" for v in checks.values())
        return {"status": "ready" if ready else "not ready", "replica": self.node.id, "checks": checks}

    async def metrics(self) -> dict[str, float]:
        """Scrape-time values for ``/metrics`` (the histograms and counters live in ``bot.metrics``)."""
        out: dict[str, float] = {"uptime_seconds": time.monotonic() - self.started_at}
        for prefix, counter in (
            ("pipeline", self.pipeline.stats),
            ("dispatcher", self.dispatcher.stats),
            ("releaser", self.releaser.stats),
            ("briefing", self.briefings.stats),
            ("moves", self.moves.stats),
            ("notices", self.notices.stats),
        ):
            for key, value in counter.items():
                out[f"{prefix}_{key}_total"] = float(value)
        out.update(self.stats)
        out["feeds"] = float(len(self.poller.sources))
        paused = self.dispatcher.pauses
        for platform in self.adapters:
            if platform != "console":
                out[f'delivery_paused{{platform="{platform}"}}'] = float(platform in paused)
        quotes = self.quotes.status()
        out["quotes_batch_requests_total"] = float(quotes.batch_requests)
        out["quotes_batch_failures_total"] = float(quotes.batch_failures)
        out["quotes_cache_hits_total"] = float(quotes.cache_hits)
        out["quotes_breaker_open"] = float(quotes.breaker.state != "closed")
        out["replicas_live"] = float(self.node.live)
        with contextlib.suppress(Exception):  # the database may be away: the rest still reports
            backlog = await asyncio.wait_for(self.store.outbox_backlog(now=self.clock.now()), timeout=3)
            for status in ("pending", "claimed", "held"):
                count, age = backlog.get(status, (0, 0.0))
                out[f'outbox_depth{{status="{status}"}}'] = float(count)
                out[f'outbox_oldest_age_seconds{{status="{status}"}}'] = age
        return out


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def _leave(node: Node) -> None:
    """A clean stop gives leases and feed claims back at once (else they expire in seconds)."""
    try:
        await asyncio.wait_for(node.leave(), timeout=5)
    except Exception as exc:  # the database is away: the claims simply expire
        log.warning("replica %s: could not say goodbye (%s); its leases expire by themselves", node.id, exc)


def require_extras(env: Env, cfg: BotConfig) -> None:
    """Optional parts the settings ask for must be installed: one line naming the extra, exit 2.

    (A PostgreSQL URL without asyncpg is reported the same way by ``bot.store.db``.)
    """
    if cfg.ingest.fetch_articles:
        from bot.ingest.articles import trafilatura_available

        if not trafilatura_available():
            raise ConfigError(
                f"{env.config_path}: ingest.fetch_articles is on but trafilatura is not installed: "
                "pip install 'marketbot[articles]', or set fetch_articles: false"
            )


def data_dir(env: Env) -> Path:
    """Where local state lives: the SQLite file's directory, else ./data."""
    url = env.database_url
    if url.startswith("sqlite") and ":///" in url:
        path = Path(url.split(":///", 1)[1].split("?", 1)[0])
        if str(path) not in ("", ":memory:"):
            return path.expanduser().parent
    return Path("data")


# ---------------------------------------------------------------- the concrete parts
# Every concrete adapter is chosen here, for ``marketbot run`` and for the CLI's one-shot
# commands alike (``bot.app.tools`` opens only the parts a command needs, with these).


def bot_clock(env: Env) -> Clock:
    """The bot's clock: the system's, or shifted to ``MARKETBOT_NOW``."""
    return OffsetClock(env.now) if env.now else SystemClock()


def new_catalog(store: SqlStore, cfg: BotConfig, directory: SymbolDirectory) -> Catalog:
    """The watchlists (config and stored) compiled against ``directory``; call ``reload()``."""
    return Catalog(
        store=store, config_watchlists=cfg.domain_watchlists(), directory=directory, aliases=cfg.aliases
    )


def quote_source(env: Env, cfg: BotConfig, calendar: ExchangeCalendar, clock: Clock) -> YahooQuoteSource:
    """Yahoo Finance quotes (``MARKETBOT_YAHOO_URL`` reroutes them), cached under the data dir."""
    return YahooQuoteSource(
        cfg.market, calendar, yahoo_url=env.yahoo_url, clock=clock, cache_dir=data_dir(env) / "cache"
    )


def feed_fetcher(cfg: BotConfig) -> Fetcher:
    """The HTTP fetcher for config and chat feeds (its SSRF guard lets chat feeds reach only public
    addresses and the operator's ``chat_feeds.allow_networks``)."""
    return Fetcher(cfg.ingest, allow_networks=cfg.chat_feeds.allow_networks)


def feed_probe(cfg: BotConfig, fetcher: Fetcher, clock: Clock) -> FeedProbe:
    """What ``/feed test`` and ``/feed add`` fetch a URL with."""
    return FeedProbe(fetcher, clock=clock, summary_chars=cfg.ingest.summary_chars)


def _yahoo_news(
    env: Env, cfg: BotConfig, catalog: Catalog, clock: Clock, cache_dir: Path, stack: AsyncExitStack
) -> list[FeedSource]:
    """Yahoo Finance ticker news for every watched ticker, as one polled source (when enabled)."""
    if not cfg.yahoo_news.enabled:
        return []
    source = YahooNewsSource(
        lambda: watched_tickers(catalog.all()),
        yahoo_url=env.yahoo_url,
        clock=clock,
        cache_dir=cache_dir,
        summary_chars=cfg.ingest.summary_chars,
    )
    stack.push_async_callback(source.aclose)
    return [news_source(source, name="Yahoo Finance ticker news", interval=cfg.yahoo_news.interval)]


async def _chat_adapters(
    env: Env,
    cfg: BotConfig,
    commands: CommandService,
    clock: Clock,
    stack: AsyncExitStack,
    *,
    listen: bool,
    node: Node,
    store: SqlStore,
) -> list[tuple[str, ChatAdapter]]:
    """Slack and Discord adapters for the tokens that are set, started and bound to the commands.

    ``listen`` False makes them send-only (no Socket Mode, no gateway, no command sync): a
    short-lived ``poll --once`` must not take slash commands meant for the running bot.
    On PostgreSQL (replicas) the Discord gateway session runs only on the replica holding the
    gateway lease (``GatewayLeader``); the others send and stand by.
    """
    out: list[tuple[str, ChatAdapter]] = []
    if env.slack_bot_token:
        from bot.chat.slack_app import SlackAdapter

        slack = SlackAdapter.from_settings(env, cfg.admins, commands=commands, clock=clock, listen=listen)
        await slack.start()
        stack.push_async_callback(slack.aclose)
        out.append(("slack", slack))
    if env.discord_bot_token:
        from bot.chat.discord_bot import DiscordAdapter

        replicas = listen and store.dialect == "postgresql"
        discord = DiscordAdapter.from_settings(
            env, cfg.admins, commands=commands, gateway=listen, standby=replicas
        )
        await discord.start()
        stack.push_async_callback(discord.aclose)
        if replicas:

            def roles(leading: bool) -> None:  # shown by `marketbot status` at the next heartbeat
                (node.roles.add if leading else node.roles.discard)("discord-gateway")

            leader = GatewayLeader(store, clock, holder=node.id, switch=discord, on_change=roles)
            await leader.run_once()  # the first replica up leads at once
            leader.start()
            stack.push_async_callback(leader.aclose)  # before the adapter closes: hand over at once
        out.append(("discord", discord))
    return out


# ---------------------------------------------------------------- entry points


async def _logged(func: Callable[[], Any], name: str) -> None:
    try:
        await func()
    except Exception:
        log.exception("%s failed; it runs again at its next turn", name)


_PURGED = ("outbox", "markers", "items", "stories", "story_sources", "story_tickers", "feeds")


async def run_bot(
    env: Env, cfg: BotConfig, *, console_json: bool = False, clock: Clock | None = None
) -> None:
    """``marketbot run``: everything, until SIGINT or SIGTERM; then a clean shutdown."""
    setup_logging(fmt=env.log_format, level=env.log_level, secrets=secrets_of(env), replica=METRICS.replica)
    tune_interpreter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Runtime.open(
        env, cfg, clock=clock, console_json=console_json, warm_up=False, compile_later=True
    ) as rt:
        scheduler = Scheduler(tz=cfg.tz, node=rt.node)
        rt.poller.attach(scheduler)
        scheduler.add_all(rt.jobs(calendar=False))  # those come with the calendar, below
        web = None
        if cfg.web.enabled:
            routes: list[Any] = []
            slack = rt.adapters.get("slack")
            if slack is not None and getattr(slack, "mode", "") == "http" and env.slack_signing_secret:
                routes = slack.web_routes()
            web = WebServer(
                host=env.web_host or cfg.web.host,
                port=cfg.web.port if env.web_port is None else env.web_port,
                health=rt.health,
                ready=rt.ready,
                metrics=rt.metrics,
                routes=routes,
            )
            try:
                await web.start()
            except OSError as exc:
                raise BotError(
                    f"cannot listen on {web.host}:{web.port} ({exc.strerror or exc}); set MARKETBOT_WEB_PORT "
                    "to a free port, or web.enabled: false in the config"
                ) from None
            rt.stack.push_async_callback(web.aclose)

        scheduler.start()
        rt.stack.callback(scheduler.shutdown)  # cancels the jobs still running
        dispatch = asyncio.create_task(rt.dispatcher.run(), name="dispatcher")
        rt.notices.wake()  # problems that arose while the bot was down
        platforms = ", ".join(rt.adapters)
        log.info(
            "marketbot %s running: %d feeds, %d watchlists, chat: %s. Ctrl-C stops.",
            bot.__version__,
            len(rt.poller.sources),
            len(rt.catalog.all()),
            platforms,
        )
        rt.catalog.begin()  # the matcher's compile (compile_later), now that start-up is done
        first_poll = asyncio.create_task(_start_up(rt), name="first-poll")
        # company names (SEC's list, Yahoo quote names: yfinance's imports) once the first poll
        # is done, not beside it
        first_symbols = asyncio.create_task(
            _after(first_poll, rt.refresh_symbols, "symbols:refresh"), name="first-symbols"
        )
        stopper = asyncio.create_task(stop.wait())
        # the exchange calendar loads in a worker thread (then the jobs that read it are added:
        # briefings, moves), and the chart library once the first poll is done (a CPU-bound
        # thread holds the GIL while the poll waits for it); an unknown exchange still stops the
        # bot with its error
        warming = asyncio.create_task(_warm_up(rt, scheduler, first_poll), name="warm-up")
        # the matcher compiles in a worker thread meanwhile; an error there stops the bot too
        compiling = rt.compiling or warming
        waiting = {dispatch, stopper, warming, compiling}
        failure: BaseException | None = None
        while failure is None:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if dispatch in done:
                error = dispatch.exception()
                if error is not None:
                    raise error
                break
            if stopper in done:
                break
            for task in done & {warming, compiling}:
                failure = failure or task.exception()  # then a clean stop, and the error
            waiting -= done
        log.info("stopping…")
        stopper.cancel()
        # In-flight work is durable: a poll cycle's stored stories carry their hand-offs, and
        # sends in flight get delivery.shutdown_grace. So polls and background work are
        # cancelled at once, and the next start finishes what they left.
        await rt.poller.stop()
        warming.cancel()
        first_poll.cancel()
        first_symbols.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await first_poll
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await first_symbols
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await warming
        scheduler.shutdown()
        if scheduler.running_tasks:
            await asyncio.wait(list(scheduler.running_tasks))
        await rt.pipeline.aclose()
        await rt.dispatcher.aclose()
        dispatch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dispatch
        if failure is not None:
            raise failure
    log.info("stopped cleanly")


async def _resume(rt: Runtime) -> None:
    """Finish what the last run left pending (a crash, a kill, a database error)."""
    try:
        if queued := await rt.pipeline.resume():
            rt.dispatcher.wake()
            log.info("start-up: %d alerts queued that the last run had not finished", queued)
    except Exception as exc:  # the running bot's sweep tries again every HANDOFF_SWEEP seconds
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.error("start-up: finishing pending hand-offs failed (%s); they are tried again later", reason)


async def _after(first: asyncio.Task[None], func: Callable[[], Any], name: str) -> None:
    await asyncio.wait({first})
    await _logged(func, name)


async def _warm_up(rt: Runtime, scheduler: Scheduler, first_poll: asyncio.Task[None]) -> None:
    await asyncio.to_thread(rt.calendar.load)
    await rt.catalog.compiled()  # briefings and move alerts match with it
    scheduler.add_all(rt.calendar_jobs())
    await asyncio.wait({first_poll})
    await asyncio.to_thread(rt.warm_up, True)


async def _start_up(rt: Runtime) -> None:
    """Finish what the last run left pending, then poll what is due (both match stories: once
    the matcher has compiled; scheduled polls fetch meanwhile)."""
    try:
        await rt.catalog.compiled()
    except Exception:  # run_bot stops with the compile's error
        return
    # config, directory and compiled watchlists: out of the collector's walks (after "running":
    # a full collection of them all takes a tenth of a second)
    settle()
    await _resume(rt)
    try:
        await rt.poller.run_once(due_only=True)
    except Exception:
        log.exception("start-up poll failed; the scheduled polls carry on")
    settle()  # the story index and what the first cycle loaded stay as long as the process


async def _keep_beating(node: Node) -> None:
    """Heartbeats for a ``poll --once`` beside running replicas: a cycle longer than DEAD_AFTER
    must not look dead to them (they would take back its feed claims and poll those feeds too)."""
    while True:
        await asyncio.sleep(HEARTBEAT)
        try:
            await node.run_once()
        except Exception as exc:  # the database is away: the poll itself reports that
            log.debug("heartbeat failed: %s", exc)


@dataclass(frozen=True)
class PollOnceResult:
    poll: PollReport
    drain: DrainReport
    paused: dict[str, PlatformPause] = field(default_factory=dict)


async def poll_once(
    env: Env,
    cfg: BotConfig,
    *,
    console_json: bool = False,
    stream: IO[str] | None = None,
    force: bool = False,
) -> PollOnceResult:
    """One full cycle, like the scheduler's: finish what the last run left pending, fetch the feeds
    that are not backing off or disabled (``force``: those too), parse, match, store, enqueue,
    deliver what is due; then exit. SIGTERM stops it cleanly (what it stored is kept)."""
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    stopped = False

    def terminate() -> None:
        nonlocal stopped
        stopped = True
        if main is not None:
            main.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        async with Runtime.open(
            env, cfg, console_json=console_json, console_stream=stream, listen=False, role="poll --once"
        ) as rt:
            beat = asyncio.create_task(_keep_beating(rt.node), name="heartbeat")
            try:
                await _resume(rt)
                report = await rt.poller.run_once(force=force)
                await rt.pipeline.settle(timeout=cfg.market.quote_timeout)
                await rt.releaser.run_once()
                drained = await rt.dispatcher.drain()
                if await rt.notices.sweep():  # what this run found broken, disabled or paused
                    await rt.dispatcher.drain()
            finally:
                beat.cancel()
            return PollOnceResult(report, drained, rt.dispatcher.pauses)
    except asyncio.CancelledError:
        if not stopped:
            raise
        raise BotError("stopped by SIGTERM; what was stored is finished by the next run") from None
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)


async def cluster_status(env: Env, *, clock: Clock | None = None) -> dict[str, Any]:
    """``marketbot status``: replicas and their heartbeats, leases, feed claims, the outbox backlog.

    Read-only; works beside running replicas (any database, SQLite included).
    """
    clock = clock or bot_clock(env)
    async with open_store(env.database_url) as store:
        now = clock.now()
        replicas = await store.replicas()
        leases = await store.leases()
        claims = await store.feed_claims()
        backlog = await store.outbox_backlog(now=now)
    return {
        "now": now.isoformat(timespec="seconds"),
        "replicas": [
            {
                "id": r.id,
                "host": r.host,
                "pid": r.pid,
                "version": r.version,
                "started_at": r.started_at.isoformat(timespec="seconds"),
                "heartbeat_age_s": round((now - r.heartbeat_at).total_seconds(), 1),
                "alive": r.alive(now, timeout=DEAD_AFTER),
                "roles": list(r.roles),
                "feeds_claimed": claims.get(r.id, 0),
            }
            for r in replicas
        ],
        "leases": [
            {
                "name": lease.name,
                "holder": lease.holder,
                "expires_in_s": round((lease.expires_at - now).total_seconds(), 1),
                "token": lease.token,
            }
            for lease in leases
        ],
        "gateway_leader": next(
            (lease.holder for lease in leases if lease.name == GATEWAY_LEASE and lease.expires_at > now), None
        ),
        "outbox": {
            status: {"rows": n, "oldest_due_age_s": round(age, 1)} for status, (n, age) in backlog.items()
        },
    }
