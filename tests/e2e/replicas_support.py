"""A cluster scene for the replica tests: three real ``marketbot run`` processes on one real
PostgreSQL database (reached through a TCP proxy the test can cut), with the feed host, Slack,
Discord and Yahoo fakes on loopback.

The replicas run on the real clock (no ``MARKETBOT_NOW``: shifted clocks started at different
moments would disagree about lease expiries), each in its own working directory, all with one
config. Every wait is on a condition (a log line, a row, a request a fake received) with a
generous deadline; the failover targets are checked against the times the fakes recorded.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.cluster import DEAD_AFTER, GATEWAY_LEASE, feed_owner
from tests.e2e.handoff_support import Child
from tests.fakes.discord import DiscordFake, Interaction, World
from tests.fakes.discord import Message as DiscordMessage
from tests.fakes.feed_host import Entry, FeedHost, entry, rss
from tests.fakes.slack import FakeSlack
from tests.fakes.slack import Message as SlackMessage
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.yahoo import YahooFake
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120.0  # a hang guard for three processes on a busy two-core machine, never a target
INTERVAL = 30  # seconds between polls of a feed (the smallest the config allows)
FEEDS = 15  # enough that every replica owns some (all 15 on the other two: 3 · (2/3)^15 ≈ 0.7 %)
CHANNEL = "C0ALERTS01"
OLD = "Quarterly earnings calendar for the week ahead"  # on every feed from the start; matches nothing


@dataclass
class Replica:
    """One ``marketbot run`` child and what the database and its log say about it."""

    child: Child
    index: int
    id: str = ""
    web: str = ""  # http://127.0.0.1:PORT

    @property
    def pid(self) -> int:
        assert self.child.proc is not None
        return self.child.proc.pid


@dataclass
class Cluster:
    tmp: Path
    db: str  # the real database (the test's own reads)
    proxy: TcpProxy
    host: FeedHost
    slack: FakeSlack
    discord: DiscordFake
    yahoo: YahooFake
    mpl: Path
    world: World = field(init=False)
    engine: AsyncEngine = field(init=False)
    replicas: list[Replica] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    _entries: dict[str, list[Entry]] = field(default_factory=dict)
    _etags: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    marks: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = create_async_engine(self.db)
        self.world = self.discord.world()
        self.slack.add_channel(CHANNEL, "markets")

    def mark(self, what: str) -> None:
        """Note how far into the test a step is (printed with the failure output, or by ``-s``)."""
        self.marks.append(f"{time.monotonic() - self.started:6.1f} s  {what}")
        print(self.marks[-1])

    # ------------------------------------------------------------ set-up

    def configure(self) -> None:
        feeds = []
        for n in range(FEEDS):
            path = f"/outlet{n:02d}.xml"
            old = entry(OLD, f"https://outlet{n:02d}.test/calendar", guid=f"{path}:old")
            old = Entry(old.title, old.link, old.guid, datetime.now(UTC) - timedelta(hours=1))
            self._entries[path] = [old]
            self._etags[path] = 1
            url = self.host.serve(path, rss([old], title=f"Outlet {n:02d}"), etag='"1"')
            self.paths.append(path)
            feeds.append({"name": f"Outlet {n:02d}", "url": url, "interval": INTERVAL})
        config = {
            "timezone": "America/New_York",
            "feeds": feeds,
            "watchlists": [{"name": "cloud", "tickers": ["AMZN", "MSFT"], "keywords": ["cloud"]}],
            "subscriptions": [
                {"watchlist": "cloud", "channel": f"slack:{CHANNEL}"},
                {"watchlist": "cloud", "channel": f"discord:{self.world.channel.id}"},
            ],
            "market": {"quote_timeout": 10},
            "delivery": {"quote_wait": 1, "late_price_wait": 0},
            "web": {"host": "127.0.0.1", "port": 0},
        }
        (self.tmp / "bot.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def env(self, workdir: Path) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "DISCORD_", "MARKETBOT_")) and k != "PYTHONSTARTUP"
        }
        env.update(
            PYTHONPATH=str(ROOT),
            MARKETBOT_DATABASE_URL=self.proxy.database_url(self.db),
            MARKETBOT_CONFIG=str(self.tmp / "bot.yaml"),
            MARKETBOT_YAHOO_URL=self.yahoo.url,
            MARKETBOT_WEB_PORT="0",
            SLACK_BOT_TOKEN=self.slack.bot_token,
            SLACK_APP_TOKEN=self.slack.app_token,
            SLACK_API_URL=self.slack.api_url,
            DISCORD_BOT_TOKEN=self.discord.token,
            DISCORD_API_URL=self.discord.api_url,
            DISCORD_GATEWAY_URL=self.discord.gateway_url,
            DISCORD_GUILD_IDS=str(self.world.guild.id),
            MPLCONFIGDIR=str(self.mpl),
            XDG_CACHE_HOME=str(workdir / "cache"),
        )
        return env

    async def start(self, count: int = 3) -> list[Replica]:
        """Start ``count`` replicas and wait until the cluster works: every replica running with
        its heartbeat stored and its web server up, one Discord gateway session, every feed polled."""
        for _ in range(count):
            index = len(self.replicas)
            workdir = self.tmp / f"replica{index}"
            workdir.mkdir()
            child = await Child(self.env(workdir), workdir, "run").start()
            self.replicas.append(Replica(child, index))
        for r in self.replicas[-count:]:
            await r.child.wait_log(r"marketbot \S+ running", timeout=DEADLINE)
            self.mark(f"replica {r.index} running")
            line = next(line for line in r.child.lines if "http server on http://" in line)
            r.web = re.search(r"http://[\d.]+:\d+", line).group(0)  # type: ignore[union-attr]
            r.id = await wait_until(
                lambda r=r: self.scalar("SELECT id FROM replicas WHERE pid = :pid", pid=r.pid),
                what=f"replica {r.index}'s heartbeat row",
                timeout=DEADLINE,
            )
        await wait_until(self.all_heartbeating, what="every replica's heartbeat", timeout=DEADLINE)
        await wait_until(
            lambda: len(self.discord.live_connections) == 1,
            what="one Discord gateway session",
            timeout=DEADLINE,
        )
        await wait_until(
            lambda: self.scalar(
                "SELECT count(*) = :n FROM feeds WHERE last_success_at IS NOT NULL AND lease_holder IS NULL",
                n=FEEDS,
            ),
            what="every feed polled once",
            timeout=DEADLINE,
        )
        self.mark("cluster ready")
        return self.replicas[-count:]

    async def stop(self) -> None:
        """SIGTERM every live replica; each must exit 0, cleanly."""
        live = [r for r in self.replicas if r.child.running]
        for r in live:
            r.child.signal(15)
        for r in live:
            code = await r.child.wait(timeout=DEADLINE)
            assert code == 0, r.child.output
            assert r.child.logged("stopped cleanly"), r.child.output

    # ------------------------------------------------------------ reading the database

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(await conn.execute(sa.text(sql), params))

    async def all_heartbeating(self) -> bool:
        """Every running replica's heartbeat is fresh (all of them see each other alive)."""
        now = datetime.now(UTC)
        fresh = {
            row.id
            for row in await self.rows("SELECT id, heartbeat_at FROM replicas")
            if (now - row.heartbeat_at).total_seconds() <= DEAD_AFTER / 3
        }
        return fresh >= {r.id for r in self.replicas if r.child.running}

    async def gateway_leader(self) -> Replica:
        holder = await self.scalar(
            "SELECT holder FROM leases WHERE name = :name AND expires_at > now()", name=GATEWAY_LEASE
        )
        (leader,) = [r for r in self.replicas if r.id == holder]
        return leader

    async def owners(self) -> dict[str, Replica]:
        """Each feed path's owner among the live replicas, as every replica computes it."""
        now = datetime.now(UTC)
        live = [
            row.id
            for row in await self.rows("SELECT id, heartbeat_at FROM replicas")
            if (now - row.heartbeat_at).total_seconds() <= DEAD_AFTER
        ]
        assert sorted(live) == sorted(r.id for r in self.replicas if r.child.running), live
        by_id = {r.id: r for r in self.replicas}
        feeds = {row.url: row.id for row in await self.rows("SELECT id, url FROM feeds")}
        return {path: by_id[feed_owner(feeds[self.host.url(path)], live)] for path in self.paths}

    async def claimed_by(self, path: str) -> str | None:
        value: str | None = await self.scalar(
            "SELECT lease_holder FROM feeds WHERE url = :url AND lease_until > now()", url=self.host.url(path)
        )
        return value

    async def settled(self) -> bool:
        """Every hand-off finished and every alert sent: nothing more can arrive."""
        pending = await self.scalar(
            "SELECT (SELECT count(*) FROM handoffs) + (SELECT count(*) FROM outbox WHERE status <> 'sent')"
        )
        return pending == 0

    # ------------------------------------------------------------ what happens outside

    def publish(self, path: str, title: str, *, link: str | None = None) -> None:
        """A new item on top of the feed (with a new ETag, so conditional GETs see it)."""
        n = len(self._entries[path])
        new = Entry(title, link or f"https://{path.strip('/')}.test/{n}", f"{path}:{n}", datetime.now(UTC))
        self._entries[path].insert(0, new)
        self._etags[path] += 1
        self.host.update(path, body=rss(self._entries[path], title=path), etag=f'"{self._etags[path]}"')

    def requests_since(self, path: str, since: datetime) -> list[datetime]:
        return [r.at for r in self.host.requests_to(path) if r.at >= since]

    async def command(self) -> Interaction:
        """A moderator runs ``/watch subscriptions`` in the channel (Discord sends it to every session)."""
        ix = await self.discord.slash(self.world.moderator, self.world.channel, "watch subscriptions")
        self.interactions.append(ix)
        return ix

    async def answered_once(self, ix: Interaction) -> None:
        reply = await ix.reply(timeout=DEADLINE)
        assert "cloud" in reply.visible_text()
        statuses = self.discord.callback_statuses(ix.id)
        assert len(statuses) == 1 and 200 <= statuses[0] < 300, f"interaction {ix.id}: callbacks {statuses}"
        assert len(ix.replies()) == 1

    def slack_alerts(self) -> list[SlackMessage]:
        return [m for m in self.slack.messages(CHANNEL) if m.via == "api" and m.thread_ts is None]

    def discord_alerts(self) -> list[DiscordMessage]:
        return [
            m
            for m in self.discord.messages(self.world.channel.id)
            if "interaction_metadata" not in m.payload and not m.payload.get("message_reference")
        ]

    def alerted(self, title: str) -> tuple[int, int]:
        """How many top-level alerts carry ``title`` in Slack and in Discord."""
        slack = sum(title in m.text for m in self.slack_alerts())
        discord = sum(any(title in e.get("title", "") for e in m.embeds) for m in self.discord_alerts())
        return slack, discord

    async def wait_alerted(self, titles: list[str]) -> None:
        await wait_until(
            lambda: all(self.alerted(t) >= (1, 1) for t in titles),
            what=f"alerts for {titles} in Slack and Discord",
            timeout=DEADLINE,
        )

    async def readyz(self, replica: Replica) -> int:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(f"{replica.web}/readyz") as resp,
        ):
            return resp.status

    async def readyz_is(self, replica: Replica, status: int) -> bool:
        try:
            return await self.readyz(replica) == status
        except (aiohttp.ClientError, TimeoutError):
            return False

    def output(self) -> str:
        return "\n\n".join(f"--- replica {r.index} ({r.id}) ---\n{r.child.output}" for r in self.replicas)


@contextlib.asynccontextmanager
async def cluster(postgres: Any, tmp: Path, mpl: Path) -> AsyncIterator[Cluster]:
    real = await postgres.new_database()
    server = make_url(real)
    async with (
        TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy,
        FeedHost() as host,
        FakeSlack() as slack,
        DiscordFake() as discord,
        YahooFake() as yahoo,
    ):
        c = Cluster(tmp, real, proxy, host, slack, discord, yahoo, mpl)
        c.configure()
        try:
            yield c
        except BaseException:
            print(c.output())
            raise
        finally:
            for r in c.replicas:
                if r.child.running:
                    await r.child.kill()
            await c.engine.dispose()
