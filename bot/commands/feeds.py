"""/feed add, list, remove and test: feeds a workspace or guild adds for its own watchlists.

Admins only (``Permissions.check_feeds``). Every URL is fetched through the SSRF guard by the
``FeedTester`` port (``bot.ingest.probe`` in the app); a feed that fails its test is never
stored, and the reply says why in one line. The CLI (``marketbot feeds add|list|remove|test``)
calls these same handlers with an operator context.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.commands import messages as msg
from bot.commands.parsers import FEED_NAME_MAX, UsageError
from bot.commands.permissions import Permissions
from bot.commands.records import (
    FeedAddCmd,
    FeedCmd,
    FeedHelpCmd,
    FeedListCmd,
    FeedRemoveCmd,
    FeedTestCmd,
)
from bot.commands.registry import handler_table, handles, run_handler
from bot.commands.spec import FEED
from bot.config import ChatFeedsConfig
from bot.domain.errors import CommandError
from bot.domain.models import CommandContext, NewsItem, Reply, ReplyField, ReplyItem
from bot.domain.records import ChatFeed, FeedState
from bot.domain.timeutil import format_age, format_duration
from bot.ports import Clock, FeedCheck, FeedStore, FeedTester

if TYPE_CHECKING:
    from bot.catalog import Catalog

TEST_SHOWN: Final = 3
MAX_INTERVAL: Final = timedelta(hours=24)
_NAME_CHARS: Final = re.compile(r"[^\w .&()'’-]+")


def feed_health(state: FeedState | None, now: datetime) -> str:
    """One line: how a feed is doing (disabled and why, failing, fine, not polled yet)."""
    if state is None or state.last_polled_at is None:
        return msg.FEED_NEVER_POLLED
    if state.disabled_reason:
        return f"disabled: {state.disabled_reason}"
    parts = []
    if state.consecutive_failures:
        parts.append(f"failing ({state.consecutive_failures} in a row): {state.last_error}")
    if state.last_success_at is not None:
        parts.append(f"last success {format_age(state.last_success_at, now)}")
    else:
        parts.append("never fetched successfully")
    parts.append(f"{state.items_seen} items")
    return " · ".join(parts)


def _default_name(check: FeedCheck) -> str:
    """A name from the feed's title (or its host), in the characters a name may have."""
    title = " ".join(_NAME_CHARS.sub(" ", check.title or "").split())[:FEED_NAME_MAX].strip(" -.")
    if title and title[0].isalnum():
        return title
    return (urlsplit(check.final_url or check.url).hostname or "feed")[:FEED_NAME_MAX]


class FeedHandlers:
    """The /feed subcommands over the store, the catalog and the feed tester."""

    def __init__(
        self,
        *,
        store: FeedStore,
        catalog: Catalog,
        tester: FeedTester | None,
        permissions: Permissions,
        config: ChatFeedsConfig,
        clock: Clock,
        tz: ZoneInfo,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.tester = tester
        self.permissions = permissions
        self.config = config
        self.clock = clock
        self.tz = tz

    # ------------------------------------------------------------ helpers

    async def _check(self, url: str) -> FeedCheck:
        if self.tester is None:
            raise CommandError("Feeds cannot be fetched from here (no feed tester is running).")
        return await self.tester.check(url)

    async def _item_lines(self, ctx: CommandContext, items: tuple[NewsItem, ...]) -> tuple[ReplyItem, ...]:
        """The newest items, each with when and which of this workspace's watchlists it would match."""
        if self.catalog.version == 0:
            await self.catalog.reload()
        matcher = self.catalog.matcher
        now = self.clock.now()
        shown = items[:TEST_SHOWN]

        def run() -> list[list[str]]:
            out = []
            for item in shown:
                result = matcher.match(item.title, item.summary)
                out.append(
                    sorted({n for s, n in result.watchlists if s in ("config", ctx.scope)}, key=str.lower)
                )
            return out

        names = await asyncio.to_thread(run)
        lines = []
        for item, matched in zip(shown, names, strict=True):
            when = item.published_at.astimezone(self.tz).strftime("%a %d %b %H:%M %Z")
            detail = f"{when} ({format_age(item.published_at, now)}) · {msg.would_match(matched)}"
            lines.append(ReplyItem(text=item.title or item.link, link=item.link, detail=detail))
        return tuple(lines)

    def _interval(self, cmd: FeedAddCmd) -> timedelta:
        low = timedelta(seconds=float(self.config.min_interval))
        every = cmd.interval or low
        if not low <= every <= MAX_INTERVAL:
            raise UsageError(
                msg.interval_out_of_range(
                    format_duration(every), format_duration(low), format_duration(MAX_INTERVAL)
                ),
                "feed add",
            )
        return every

    # ------------------------------------------------------------ commands

    async def run(self, ctx: CommandContext, cmd: FeedCmd) -> Reply:
        """Answer one /feed subcommand (the chat service and ``marketbot feeds`` both route here)."""
        key = next(("feed", e.name) for e in FEED.subcommands if isinstance(cmd, e.record))  # type: ignore[arg-type]
        return await run_handler(handler_table(self)[key], ctx, cmd)

    @handles("feed", "test")
    async def test(self, ctx: CommandContext, cmd: FeedTestCmd) -> Reply:
        """Fetch once through the guard; the three newest items and what they would match."""
        self.permissions.check_feeds(ctx)
        check = await self._check(cmd.url)
        if not check.ok:
            return Reply(title=msg.FEED_TEST_FAILED_TITLE, text=str(check.error), private=True, error=True)
        title = check.title or _default_name(check)
        items = await self._item_lines(ctx, check.items)
        return Reply(
            title=f"Feed test: {title}",
            text=msg.feed_test_summary(check.final_url or check.url, len(check.items), len(items)),
            items=items,
            private=True,
        )

    @handles("feed", "add")
    async def add(self, ctx: CommandContext, cmd: FeedAddCmd) -> Reply:
        """Test the URL, then store it for this workspace (nothing is stored when the test fails)."""
        self.permissions.check_feeds(ctx)
        every = self._interval(cmd)
        existing = await self.store.list_chat_feeds(ctx.scope)
        feed_id = ChatFeed.id_for(ctx.scope, cmd.url)
        if cmd.name is not None and (taken := self._named(existing, cmd.name)) is not None:
            raise CommandError(msg.feed_name_taken(taken.name))
        if (same := next((f for f in existing if f.feed_id == feed_id), None)) is not None:
            raise CommandError(msg.feed_url_taken(same.url, same.name))
        if len(existing) >= self.config.limit_per_workspace:
            raise CommandError(msg.feed_limit(self.config.limit_per_workspace))
        # checked again by the store when saving: the fetch holds no lock, and two admins (or
        # replicas) adding at once still end with one feed per name and URL, within the limit
        check = await self._check(cmd.url)
        if not check.ok:
            return Reply(
                title=msg.FEED_NOT_ADDED_TITLE,
                text=msg.feed_not_added(str(check.error)),
                private=True,
                error=True,
            )
        name = cmd.name or _default_name(check)
        feed = ChatFeed(
            scope=ctx.scope,
            name=name,
            url=cmd.url,
            feed_id=feed_id,
            interval=int(every.total_seconds()),
            added_by=ctx.user if ctx.user.startswith("cli:") else f"{ctx.platform}:{ctx.user}",
            added_at=self.clock.now(),
        )
        outcome = await self.store.add_chat_feed(feed, limit=self.config.limit_per_workspace)
        if outcome == "name-taken":
            raise CommandError(msg.feed_name_taken(name))
        if outcome == "url-taken":
            raise CommandError(msg.feed_url_taken(cmd.url, name))
        if outcome == "limit":
            raise CommandError(msg.feed_limit(self.config.limit_per_workspace))
        await self.catalog.reload()
        items = await self._item_lines(ctx, check.items)
        return Reply(
            title=f"{msg.FEED_ADDED_TITLE}: {name}",
            text=msg.feed_added(name, cmd.url, format_duration(every), len(check.items)),
            items=items,
            private=True,
        )

    @staticmethod
    def _named(feeds: list[ChatFeed], name: str) -> ChatFeed | None:
        return next((f for f in feeds if f.name.lower() == name.lower()), None)

    @handles("feed", "remove")
    async def remove(self, ctx: CommandContext, cmd: FeedRemoveCmd) -> Reply:
        """Stop polling one of this workspace's feeds."""
        self.permissions.check_feeds(ctx)
        removed = await self.store.remove_chat_feed(ctx.scope, cmd.name)
        if removed is None:
            names = [f.name for f in await self.store.list_chat_feeds(ctx.scope)]
            raise CommandError(msg.no_such_feed(cmd.name, names))
        await self.catalog.reload()
        return Reply(
            title=f"{msg.FEED_REMOVED_TITLE}: {removed.name}",
            text=msg.feed_removed(removed.name, removed.url),
            private=True,
        )

    @handles("feed", "list")
    async def list_feeds(self, ctx: CommandContext, cmd: FeedListCmd | None = None) -> Reply:
        """This workspace's feeds with their health."""
        self.permissions.check_feeds(ctx)
        feeds = await self.store.list_chat_feeds(ctx.scope)
        if not feeds:
            return Reply(title=msg.FEED_LIST_TITLE, text=msg.FEED_LIST_EMPTY, private=True)
        return Reply(
            title=msg.FEED_LIST_TITLE,
            text=msg.feed_count(len(feeds), self.config.limit_per_workspace),
            items=await self.health_items(feeds),
            private=True,
        )

    async def health_items(self, feeds: list[ChatFeed]) -> tuple[ReplyItem, ...]:
        """One line per feed: name, URL, interval, health, who added it (for /feed list and /watch status)."""
        now = self.clock.now()
        out = []
        for f in feeds:
            state = await self.store.get_feed(f.feed_id)
            added = f.added_at.astimezone(self.tz).strftime("%d %b %Y")
            detail = " · ".join(
                (
                    f"every {format_duration(timedelta(seconds=f.interval))}",
                    feed_health(state, now),
                    f"added by {f.added_by} on {added}",
                )
            )
            out.append(ReplyItem(text=f"{f.name} — {f.url}", detail=detail))
        return tuple(out)

    @handles("feed", "help")
    def help_cmd(self, ctx: CommandContext, cmd: FeedHelpCmd) -> Reply:
        return self.help(cmd.topic)

    def help(self, topic: str | None = None) -> Reply:
        return feed_help(topic, limit=self.config.limit_per_workspace)


def feed_help(topic: str | None = None, *, limit: int | None = None) -> Reply:
    """/feed help [COMMAND] (also /watch help feed); ``limit``: the feeds a workspace may have."""
    keys = [f"feed {topic}"] if topic else [f"feed {k}" for k in msg.FEED_SUBCOMMANDS]
    items = tuple(ReplyItem(text=f, detail=w) for f, w in (msg.usage_line(k) for k in keys))
    return Reply(
        title=msg.FEED_HELP_TITLE,
        text=msg.DENIED_FEEDS.replace("Only admins can manage feeds: ", "Admins only: "),
        items=items,
        private=True,
        fields=(ReplyField("Limit", f"{limit} feeds per workspace"),) if limit is not None else (),
    )
