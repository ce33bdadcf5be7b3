"""/watch: watchlists and this channel's subscriptions.

Visibility of replies: listings (list, show, subscriptions, test) and help are private to the
asker, so a channel is not flooded by someone exploring; changes (create, add, remove, delete,
query, subscribe, unsubscribe, mute, unmute) are posted to the channel, so everyone there sees
who changed what its alerts will be. Errors are always private.

Every change to a watchlist is validated by the rule engine before it is saved, and the
catalog is reloaded afterwards so the next poll uses it without a restart.

Replicas: a command may run on any replica, and two people may edit one watchlist at once.
Stored watchlists are therefore read from the database, not from this process's catalog
(which follows edits made elsewhere only every couple of seconds); an edit is applied to the
stored copy inside its transaction under a row lock (``Store.update_watchlist``), and a create
is one insert that either wins or finds the name taken (``Store.create_watchlist``). So no edit
is lost, a racing create gets "already exists", a retried add changes nothing the second time,
and every answer says what the database now holds.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from bot.commands import messages as msg
from bot.commands.items import Item, read_items, term_key
from bot.commands.options import OptionChange, apply_options, describe_changes, describe_options
from bot.commands.permissions import Permissions
from bot.commands.quote_news import story_detail
from bot.commands.records import (
    DeleteCmd,
    EditCmd,
    ListCmd,
    MuteCmd,
    OptionsCmd,
    QueryCmd,
    ShowCmd,
    SubscribeCmd,
    SubscriptionsCmd,
    TestCmd,
    UnmuteCmd,
    UnsubscribeCmd,
)
from bot.commands.registry import handles
from bot.config import CommandsConfig
from bot.domain.errors import CommandError, ValidationError
from bot.domain.models import (
    ChannelRef,
    CommandContext,
    Match,
    Reply,
    ReplyField,
    ReplyItem,
    Story,
    Subscription,
    SubscriptionOptions,
    Watchlist,
)
from bot.domain.records import SubscriptionSpec
from bot.domain.rules import Matcher, compile_matcher, parse_query, validate_watchlist
from bot.domain.rules.symbols import SymbolDirectory
from bot.domain.timeutil import format_duration
from bot.ports import Clock, FeedStore, NewsStore, OutboxStore, SubscriptionStore, WatchlistStore


class WatchStore(FeedStore, NewsStore, OutboxStore, SubscriptionStore, WatchlistStore, Protocol):
    """The store capabilities /watch uses (and so the command service, which hands it on)."""


if TYPE_CHECKING:
    from bot.catalog import Catalog
    from bot.commands.feeds import FeedHandlers

MAX_PROBLEMS_SHOWN = 10
LIST_SHOWN = 40  # watchlists one /watch list shows (Slack: 50 blocks, Discord: 25 fields a page)


def display_term(text: str) -> str:
    """A stored keyword as a user would type it (phrases in quotes)."""
    if " " in text.strip() and not text.startswith(("=", '"')):
        return f'"{text.strip()}"'
    return text


def _join(values: Sequence[str]) -> str:
    return ", ".join(values) if values else msg.NONE


def format_until(until: datetime, now: datetime, tz: ZoneInfo) -> str:
    """``15:00 EST (in 2h)``, or with the day when it is not today."""
    local, today = until.astimezone(tz), now.astimezone(tz)
    clock = f"{local:%H:%M %Z}" if local.date() == today.date() else f"{local:%a %d %b %H:%M %Z}"
    return f"{clock} (in {format_duration(until - now)})"


def format_at(at: datetime, now: datetime, tz: ZoneInfo) -> str:
    """``08:12 EST``, or with the day when it is not today (a past instant, in the bot's zone)."""
    local, today = at.astimezone(tz), now.astimezone(tz)
    return f"{local:%H:%M %Z}" if local.date() == today.date() else f"{local:%a %d %b %H:%M %Z}"


def _named(matcher: Matcher, story: Story, match: Match) -> str:
    """How the story names the matched tickers' companies: ``AAPL as "Apple" (legal form
    dropped of "Apple Inc.", sec)``; empty when they appear as symbols only."""
    wanted = set(match.tickers)
    seen: list[str] = []
    for m in matcher.mentions(story.title, story.summary):
        if m.form == "name" and m.symbol in wanted and m.variant and m.text.upper() != m.symbol:
            same = m.variant.startswith(f'"{m.text}"')
            text = f"{m.symbol} as {m.variant}" if same else f'{m.symbol} as "{m.text}" by {m.variant}'
            if text not in seen:
                seen.append(text)
    return "named: " + "; ".join(seen[:3]) if seen else ""


def _why(match: Match) -> str:
    """``$NVDA in title; export control in summary``: what made a story match."""
    where: dict[str, list[str]] = {}
    for hit in match.hits:
        where.setdefault(hit.term, [])
        if hit.where not in where[hit.term]:
            where[hit.term].append(hit.where)
    parts = []
    for sym in match.tickers:
        places = where.get(sym, [])
        parts.append(f"${sym}" + (f" in {' and '.join(places)}" if places else ""))
    for term in match.terms:
        places = where.get(term, [])
        parts.append(display_term(term) + (f" in {' and '.join(places)}" if places else ""))
    return "why: " + "; ".join(parts) if parts else "why: the query holds"


class WatchHandlers:
    """Handlers for every /watch subcommand except help."""

    def __init__(
        self,
        *,
        store: WatchStore,
        catalog: Catalog,
        directory: SymbolDirectory,
        permissions: Permissions,
        limits: CommandsConfig,
        clock: Clock,
        tz: ZoneInfo,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.directory = directory
        self.permissions = permissions
        self.limits = limits
        self.clock = clock
        self.tz = tz
        self._edit_lock = asyncio.Lock()  # one watchlist edit at a time: no lost updates

    # ------------------------------------------------------------ shared

    async def _find(self, ctx: CommandContext, name: str) -> Watchlist:
        """The watchlist as it is now: a config one by name first, else this scope's stored copy
        (from the database: an edit or create on another replica a moment ago is seen)."""
        found = self.catalog.find(ctx.scope, name)
        if found is not None and found.read_only:
            return found
        stored = await self.store.get_watchlist(ctx.scope, name)
        if stored is not None:
            return stored
        raise await self._missing(ctx, name)

    async def _missing(self, ctx: CommandContext, name: str) -> CommandError:
        names = [w.name for w in self.catalog.config_watchlists()]
        names += [w.name for w in await self.store.list_watchlists(ctx.scope)]
        lowered = {n.lower(): n for n in names}
        near = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
        return CommandError(msg.no_watchlist(name, [lowered[n] for n in near]))

    async def _editable(self, ctx: CommandContext, name: str) -> Watchlist:
        wl = await self._find(ctx, name)
        if wl.read_only:
            raise CommandError(msg.read_only(wl.name))
        self.permissions.check(ctx, "edit", wl)
        return wl

    async def _check_room(self, scope: str) -> None:
        if len(await self.store.list_watchlists(scope)) >= self.limits.max_watchlists:
            raise CommandError(msg.too_many_watchlists(self.limits.max_watchlists))

    def _check_size(self, wl: Watchlist) -> None:
        count = len(wl.tickers) + len(wl.keywords) + len(wl.exclude)
        if count > self.limits.max_items:
            raise CommandError(msg.too_many_items(wl.name, count, self.limits.max_items))

    @staticmethod
    def _validate(wl: Watchlist) -> None:
        """What the rule engine would refuse, as the user's error."""
        try:
            validate_watchlist(wl)
        except ValidationError as exc:
            raise CommandError(str(exc)) from None

    def _channel(self, ctx: CommandContext) -> ChannelRef:
        return ChannelRef(ctx.channel.platform, ctx.channel.channel, ctx.workspace or ctx.channel.workspace)

    @staticmethod
    def _echo(items: Sequence[Item], note: dict[int, str] | None = None) -> tuple[ReplyItem, ...]:
        out = []
        for i, item in enumerate(items):
            reading = (note or {}).get(i, item.reading)
            out.append(ReplyItem(text=f"{item.shown} → {reading}", detail=item.hint))
        return tuple(out)

    def _problems_reply(self, key: str, problems: Sequence[tuple[str, str]]) -> Reply:
        form, what = msg.usage_line(key)
        return Reply(
            title=msg.item_problems_title(len(problems)),
            text="\n".join(
                [problem for _, problem in problems[:MAX_PROBLEMS_SHOWN]]
                + (
                    [msg.more_problems(len(problems) - MAX_PROBLEMS_SHOWN)]
                    if len(problems) > MAX_PROBLEMS_SHOWN
                    else []
                )
            ),
            fields=(ReplyField("Usage", f"{form} - {what}"), ReplyField("Items", msg.ITEMS_HELP)),
            private=True,
            error=True,
        )

    # ------------------------------------------------------------ read-only

    @handles("watch", "list")
    async def list_watchlists(self, ctx: CommandContext, cmd: ListCmd) -> Reply:
        """The watchlists usable here, those subscribed here first; at most ``LIST_SHOWN`` of them
        (a server with thousands narrows the list with ``/watch list TEXT``)."""
        contains = cmd.contains
        watchlists = self.catalog.visible(ctx.scope)
        if not watchlists:
            return Reply(title=msg.LIST_TITLE, text=msg.LIST_EMPTY, private=True)
        if contains:
            needle = contains.casefold()
            watchlists = [w for w in watchlists if needle in w.name.casefold()]
            if not watchlists:
                return Reply(title=msg.LIST_TITLE, text=msg.list_none_containing(contains), private=True)
        here = {
            (s.scope, s.watchlist.lower()) for s in await self.store.list_subscriptions(channel=ctx.channel)
        }
        ordered = sorted(watchlists, key=lambda w: (w.scope, w.name.lower()) not in here)  # stable
        items = []
        for wl in ordered[:LIST_SHOWN]:
            if wl.query is not None:
                what = f"query: {wl.query if len(wl.query) <= 80 else wl.query[:77] + '...'}"
            else:
                what = msg.summary_counts(len(wl.tickers), len(wl.keywords), len(wl.exclude))
            origin = msg.FROM_CONFIG if wl.read_only else msg.made_by(wl.created_by or "")
            parts = [what, origin]
            if (wl.scope, wl.name.lower()) in here:
                parts.append(msg.SUBSCRIBED_HERE)
            items.append(ReplyItem(text=wl.name, detail=" · ".join(parts)))
        text = msg.list_shown(len(items), len(ordered), contains) if len(ordered) > len(items) else ""
        return Reply(title=msg.LIST_TITLE, text=text, items=tuple(items), private=True)

    def _subscription_notes(self, sub: Subscription, now: datetime) -> list[str]:
        notes = []
        if sub.options.briefing == "premarket":
            notes.append("pre-market briefing")
        if sub.options.mute_until is not None and sub.options.mute_until > now:
            notes.append(msg.muted_until(format_until(sub.options.mute_until, now, self.tz)))
        if sub.origin == "config":
            notes.append("from the config file")
        if sub.state == "broken":
            notes.append(f"{msg.BROKEN}: {sub.broken_reason}" if sub.broken_reason else msg.BROKEN)
        return notes

    @handles("watch", "show")
    async def show(self, ctx: CommandContext, cmd: ShowCmd) -> Reply:
        wl = await self._find(ctx, cmd.name)
        fields: list[ReplyField] = []
        if wl.query is not None:
            fields.append(ReplyField("Query", wl.query))
        else:
            fields.append(ReplyField("Tickers", _join(wl.tickers)))
            fields.append(ReplyField("Keywords", _join([display_term(k) for k in wl.keywords])))
            if wl.tickers and wl.keywords:
                fields.append(
                    ReplyField(
                        "Match", "a ticker AND a keyword" if wl.match == "all" else "a ticker OR a keyword"
                    )
                )
        if wl.exclude:
            fields.append(ReplyField("Exclude", _join([display_term(x) for x in wl.exclude])))
        fields.append(
            ReplyField("Source", msg.FROM_CONFIG if wl.read_only else msg.made_by(wl.created_by or ""))
        )
        subs = await self.store.list_subscriptions(watchlist=wl.name, scope=wl.scope)
        now = self.clock.now()
        shown, elsewhere = [], 0
        for sub in subs:
            ch = sub.channel
            if ch.platform != ctx.platform or (ch.workspace not in (None, ctx.workspace)):
                elsewhere += 1
                continue
            label = msg.THIS_CHANNEL if ch == ctx.channel else ch.channel
            notes = self._subscription_notes(sub, now)
            shown.append(label + (f" ({', '.join(notes)})" if notes else ""))
        if elsewhere:
            shown.append(msg.elsewhere(elsewhere))
        fields.append(ReplyField("Channels", _join(shown)))
        return Reply(title=msg.show_title(wl.name), fields=tuple(fields), private=True)

    @handles("watch", "subscriptions")
    async def subscriptions(self, ctx: CommandContext, cmd: SubscriptionsCmd | None = None) -> Reply:
        """This channel's subscriptions: options as typed, then state (broken, muted, held alerts)."""
        subs = await self.store.list_subscriptions(channel=ctx.channel)
        if not subs:
            return Reply(title=msg.SUBSCRIPTIONS_TITLE, text=msg.no_subscriptions(), private=True)
        now = self.clock.now()
        stats = await self.store.channel_stats()
        items = []
        for s in subs:
            parts = describe_options(s.options, self.tz, now=now)
            parts += [n for n in self._subscription_notes(s, now) if n != "pre-market briefing"]
            st = stats.get(s.id)
            if st is not None:
                parts += [
                    text
                    for count, text in (
                        (st.held, msg.held_alerts(st.held)),
                        (st.queued, msg.queued_alerts(st.queued)),
                        (st.failed, msg.failed_alerts(st.failed)),
                    )
                    if count
                ]
            items.append(ReplyItem(text=s.watchlist, detail=" · ".join(parts)))
        return Reply(title=msg.SUBSCRIPTIONS_TITLE, items=tuple(items), private=True)

    async def status(self, ctx: CommandContext, feeds: FeedHandlers) -> Reply:
        """/watch status: this workspace's feeds with health, its subscriptions per channel with
        state, the last alert per channel and what is queued or held, times in the bot's zone."""
        now = self.clock.now()
        chat_feeds = await self.store.list_chat_feeds(ctx.scope)
        subs = [
            s
            for s in await self.store.list_subscriptions()
            if s.channel.platform == ctx.platform
            and (s.channel.workspace == ctx.workspace if ctx.workspace else s.channel == ctx.channel)
        ]
        stats = await self.store.channel_stats()
        items: list[ReplyItem] = [
            ReplyItem(text=f"Feed {i.text}", detail=i.detail) for i in await feeds.health_items(chat_feeds)
        ]
        by_channel: dict[str, list[Subscription]] = {}
        for s in subs:
            by_channel.setdefault(s.channel.channel, []).append(s)
        queued = held = failed = 0
        # this channel first, then the others by id
        for channel in sorted(by_channel, key=lambda c: (c != ctx.channel.channel, c)):
            parts: list[str] = []
            last: datetime | None = None
            c_queued = c_held = c_failed = 0
            for s in by_channel[channel]:
                notes = [n for n in self._subscription_notes(s, now) if n != "pre-market briefing"]
                parts.append(f"{s.watchlist} ({', '.join(notes)})" if notes else s.watchlist)
                st = stats.get(s.id)
                if st is not None:
                    c_queued, c_held, c_failed = c_queued + st.queued, c_held + st.held, c_failed + st.failed
                    if st.last_delivery_at is not None and (last is None or st.last_delivery_at > last):
                        last = st.last_delivery_at
            queued, held, failed = queued + c_queued, held + c_held, failed + c_failed
            parts.append(
                msg.last_alert(format_at(last, now, self.tz), last, now) if last else msg.NO_ALERT_YET
            )
            parts += [
                text
                for count, text in (
                    (c_queued, msg.queued_alerts(c_queued)),
                    (c_held, msg.held_alerts(c_held)),
                    (c_failed, msg.failed_alerts(c_failed)),
                )
                if count
            ]
            here = f" ({msg.THIS_CHANNEL})" if channel == ctx.channel.channel else ""
            items.append(ReplyItem(text=f"#{channel}{here}", detail=" · ".join(parts)))
        failing = 0
        for f in chat_feeds:
            state = await self.store.get_feed(f.feed_id)
            if state is not None and (state.disabled_reason or state.consecutive_failures):
                failing += 1
        text = msg.status_summary(
            feeds=len(chat_feeds),
            failing=failing,
            subscriptions=len(subs),
            channels=len(by_channel),
            queued=queued,
            held=held,
            tz=str(self.tz),
        )
        shown = items[: msg.STATUS_SHOWN]
        if len(items) > len(shown):
            text += " " + msg.status_more(len(items) - len(shown))
        return Reply(title=msg.STATUS_TITLE, text=text, items=tuple(shown), private=True)

    async def _matcher_for(self, wl: Watchlist) -> Matcher:
        """The catalog's compiled matcher when it holds ``wl``, else one compiled for ``wl`` alone."""
        if self.catalog.version == 0:
            await self.catalog.reload()
        matcher = self.catalog.matcher
        if any(w.scope == wl.scope and w.name == wl.name for w in matcher.watchlists):
            return matcher
        return await asyncio.to_thread(compile_matcher, [wl], self.catalog.directory, self.catalog.aliases)

    @handles("watch", "test")
    async def test(self, ctx: CommandContext, cmd: TestCmd) -> Reply:
        """Which stories of the last 24 hours would have matched, newest first, with why."""
        wl = await self._find(ctx, cmd.name)
        now = self.clock.now()
        stories = await self.store.recent_stories(now - msg.TEST_WINDOW)
        matcher = await self._matcher_for(wl)
        key = (wl.scope, wl.name)

        def run() -> list[tuple[Story, Match]]:
            hits = []
            for story in stories:
                result = matcher.match_story(story)
                if key in result.watchlists:
                    m = next(m for m in result.matches if (m.scope, m.watchlist) == key)
                    hits.append((story, m))
            return hits

        def detail(s: Story, m: Match) -> str:
            named = _named(matcher, s, m)
            return " · ".join(x for x in (story_detail(s, now), _why(m), named) if x)

        hits = await asyncio.to_thread(run)
        hits.sort(key=lambda h: h[0].published_at, reverse=True)
        shown = hits[: msg.TEST_SHOWN]
        details = await asyncio.to_thread(lambda: [detail(s, m) for s, m in shown])
        items = tuple(
            ReplyItem(text=s.title, link=s.link, detail=d) for (s, _m), d in zip(shown, details, strict=True)
        )
        return Reply(
            title=msg.test_title(wl.name),
            text=msg.test_summary(len(hits), len(stories), len(shown)),
            items=items,
            private=True,
        )

    # ------------------------------------------------------------ watchlist changes

    @handles("watch", "create")
    @handles("watch", "add")
    @handles("watch", "remove")
    async def edit(self, ctx: CommandContext, cmd: EditCmd) -> Reply:
        async with self._edit_lock:
            if cmd.action == "create":
                return await self._create(ctx, cmd)
            if cmd.action == "add":
                return await self._add(ctx, cmd)
            return await self._remove(ctx, cmd)

    async def _create(self, ctx: CommandContext, cmd: EditCmd) -> Reply:
        self.permissions.check(ctx, "create")
        await self._check_free(ctx, cmd.name)
        await self._check_room(ctx.scope)
        items, problems = read_items(cmd.items, self.directory)
        if problems:
            return self._problems_reply("create", [(p.shown, p.problem) for p in problems])
        wl = Watchlist(
            name=cmd.name,
            scope=ctx.scope,
            tickers=tuple(i.value for i in items if i.kind == "ticker"),
            keywords=tuple(i.value for i in items if i.kind == "keyword"),
            exclude=tuple(i.value for i in items if i.kind == "exclude"),
            created_by=ctx.user,
        )
        if not wl.tickers and not wl.keywords:
            raise CommandError(msg.no_items("create"))
        self._check_size(wl)
        await self._insert(wl)
        return Reply(
            title=msg.show_title(wl.name),
            text=msg.created(wl.name, len(items)),
            items=self._echo(items),
        )

    async def _check_free(self, ctx: CommandContext, name: str) -> None:
        """Refuse a name the config or this scope already has (as stored now)."""
        existing = self.catalog.find(ctx.scope, name)
        if existing is not None and existing.read_only:
            raise CommandError(msg.already_exists(existing.name, True))
        stored = await self.store.get_watchlist(ctx.scope, name)
        if stored is not None:
            raise CommandError(msg.already_exists(stored.name, False))

    async def _insert(self, wl: Watchlist) -> None:
        """Validate and create; someone who created the same name a moment earlier wins."""
        self._validate(wl)
        if not await self.store.create_watchlist(wl):
            won = await self.store.get_watchlist(wl.scope, wl.name)
            raise CommandError(msg.already_exists(won.name if won else wl.name, False))
        await self.catalog.reload()

    async def _update(
        self, ctx: CommandContext, wl: Watchlist, change: Callable[[Watchlist], Watchlist | None]
    ) -> Watchlist | None:
        """Apply ``change`` to the stored copy under its row lock (validated, size-checked);
        the saved watchlist, or None when ``change`` kept it as it was."""

        def checked(current: Watchlist) -> Watchlist | None:
            self.permissions.check(ctx, "edit", current)
            updated = change(current)
            if updated is not None:
                self._check_size(updated)
                self._validate(updated)
            return updated

        result = await self.store.update_watchlist(wl.scope, wl.name, checked)
        if result is None:  # deleted meanwhile (on another replica, say)
            raise await self._missing(ctx, wl.name)
        _before, after = result
        if after is not None:
            await self.catalog.reload()
        return after

    async def _add(self, ctx: CommandContext, cmd: EditCmd) -> Reply:
        wl = await self._editable(ctx, cmd.name)
        if wl.query is not None:
            raise CommandError(msg.uses_query(wl.name))
        items, problems = read_items(cmd.items, self.directory)
        if problems:
            return self._problems_reply("add", [(p.shown, p.problem) for p in problems])
        new: list[Item] = []
        notes: dict[int, str] = {}

        def add(current: Watchlist) -> Watchlist | None:
            if current.query is not None:
                raise CommandError(msg.uses_query(current.name))
            have = _keys(current)
            new[:] = [i for i in items if i.key not in have]
            notes.clear()
            notes.update({n: msg.already_there(i.reading) for n, i in enumerate(items) if i.key in have})
            if not new:
                return None
            return replace(
                current,
                tickers=current.tickers + tuple(i.value for i in new if i.kind == "ticker"),
                keywords=current.keywords + tuple(i.value for i in new if i.kind == "keyword"),
                exclude=current.exclude + tuple(i.value for i in new if i.kind == "exclude"),
            )

        if await self._update(ctx, wl, add) is None:
            return Reply(
                title=msg.show_title(wl.name),
                text=msg.watchlist_kept(wl.name),
                items=self._echo(items, notes),
                private=True,
            )
        return Reply(
            title=msg.show_title(wl.name),
            text=f"{msg.added(wl.name, len(new))} {msg.edits_apply()}",
            items=self._echo(items, notes),
        )

    async def _remove(self, ctx: CommandContext, cmd: EditCmd) -> Reply:
        wl = await self._editable(ctx, cmd.name)
        if wl.query is not None:
            raise CommandError(msg.uses_query(wl.name))
        items, problems = read_items(cmd.items, self.directory, strict=False)
        if problems:
            return self._problems_reply("remove", [(p.shown, p.problem) for p in problems])
        drop = {i.key for i in items}
        notes: dict[int, str] = {}

        def remove(current: Watchlist) -> Watchlist | None:
            if current.query is not None:
                raise CommandError(msg.uses_query(current.name))
            have = _keys(current)
            if not drop & set(have):
                raise CommandError(msg.nothing_removed(current.name))
            updated = replace(
                current,
                tickers=tuple(t for t in current.tickers if ("ticker", t) not in drop),
                keywords=tuple(k for k in current.keywords if ("keyword", *term_key(k)) not in drop),
                exclude=tuple(x for x in current.exclude if ("exclude", *term_key(x)) not in drop),
            )
            if not updated.tickers and not updated.keywords:
                raise CommandError(msg.emptied(current.name))
            notes.clear()
            notes.update(
                {n: msg.not_in_watchlist(current.name) for n, i in enumerate(items) if i.key not in have}
            )
            return updated

        await self._update(ctx, wl, remove)
        removed = len(items) - len(notes)
        return Reply(
            title=msg.show_title(wl.name),
            text=f"{msg.removed(wl.name, removed)} {msg.edits_apply()}",
            items=self._echo(items, notes),
        )

    @handles("watch", "delete")
    async def delete(self, ctx: CommandContext, cmd: DeleteCmd) -> Reply:
        async with self._edit_lock:
            wl = await self._editable(ctx, cmd.name)
            subs = await self.store.list_subscriptions(watchlist=wl.name, scope=wl.scope)
            if not await self.store.delete_watchlist(wl.scope, wl.name):
                raise await self._missing(ctx, wl.name)  # deleted a moment ago elsewhere
            await self.catalog.reload()
        return Reply(title=msg.show_title(wl.name), text=msg.deleted(wl.name, len(subs)))

    @handles("watch", "query")
    async def query(self, ctx: CommandContext, cmd: QueryCmd) -> Reply:
        try:
            parsed = parse_query(cmd.query)
        except ValidationError as exc:
            raise CommandError(msg.bad_query(str(exc))) from None
        async with self._edit_lock:
            existing = self.catalog.find(ctx.scope, cmd.name)
            if existing is None or not existing.read_only:
                existing = await self.store.get_watchlist(ctx.scope, cmd.name)
            replaced = 0
            if existing is None:
                self.permissions.check(ctx, "create")
                await self._check_room(ctx.scope)
                wl = Watchlist(name=cmd.name, scope=ctx.scope, query=cmd.query, created_by=ctx.user)
                await self._insert(wl)
            else:
                base = await self._editable(ctx, cmd.name)

                def set_query(current: Watchlist) -> Watchlist:
                    nonlocal replaced
                    replaced = len(current.tickers) + len(current.keywords)
                    return replace(current, query=cmd.query, tickers=(), keywords=(), match="any")

                wl = await self._update(ctx, base, set_query) or base
        return Reply(
            title=msg.show_title(wl.name),
            text=f"{msg.query_set(wl.name, existing is None, replaced)} {msg.edits_apply()}",
            fields=(ReplyField("Query", cmd.query), ReplyField("Read as", str(parsed))),
        )

    # ------------------------------------------------------------ subscriptions

    async def _channel_subscription(self, ctx: CommandContext, name: str) -> Subscription | None:
        key = name.lower()
        for sub in await self.store.list_subscriptions(channel=ctx.channel):
            if sub.watchlist.lower() == key and sub.scope in ("config", ctx.scope):
                return sub
        return None

    @handles("watch", "subscribe")
    async def subscribe(self, ctx: CommandContext, cmd: SubscribeCmd) -> Reply:
        wl = await self._find(ctx, cmd.name)
        self.permissions.check(ctx, "subscribe")
        existing = await self._channel_subscription(ctx, wl.name)
        if existing is not None:
            if not cmd.options:
                current = existing.options.briefing == "premarket"
                return Reply(
                    title=msg.show_title(wl.name), text=msg.already_subscribed(wl.name, current), private=True
                )
            return await self._set_options(ctx, existing, cmd.options)
        spec = SubscriptionSpec(
            watchlist=wl.name,
            channel=self._channel(ctx),
            scope=wl.scope,
            options=apply_options(SubscriptionOptions(), cmd.options),
        )
        await self.store.add_subscription(spec, created_by=ctx.user)
        others = [c for c in cmd.options if c.key != "briefing"]
        if others:
            shown = describe_options(spec.options, self.tz, now=self.clock.now())
            return Reply(title=msg.show_title(wl.name), text=msg.subscribed_with(wl.name, ", ".join(shown)))
        return Reply(
            title=msg.show_title(wl.name), text=msg.subscribed(wl.name, spec.options.briefing == "premarket")
        )

    @handles("watch", "options")
    async def options(self, ctx: CommandContext, cmd: OptionsCmd) -> Reply:
        """Show (no changes given) or change this channel's options for a subscription."""
        sub = await self._channel_subscription(ctx, cmd.name)
        if sub is None:
            raise CommandError(msg.not_subscribed(cmd.name))
        if not cmd.options:
            now = self.clock.now()
            notes = [n for n in self._subscription_notes(sub, now) if n != "pre-market briefing"]
            fields = [
                ReplyField(
                    "Options", " · ".join(describe_options(sub.options, self.tz, now=now, defaults=True))
                )
            ]
            if notes:
                fields.append(ReplyField("State", " · ".join(notes)))
            return Reply(title=msg.options_title(sub.watchlist), fields=tuple(fields), private=True)
        self.permissions.check(ctx, "subscribe")
        return await self._set_options(ctx, sub, cmd.options)

    async def _set_options(
        self, ctx: CommandContext, sub: Subscription, changes: Sequence[OptionChange]
    ) -> Reply:
        if sub.origin == "config":
            raise CommandError(msg.config_options(sub.watchlist))
        updated = apply_options(sub.options, changes)
        if updated == sub.options:
            return Reply(
                title=msg.show_title(sub.watchlist), text=msg.options_kept(sub.watchlist), private=True
            )
        await self.store.update_subscription_options(sub.id, updated)
        if all(c.key == "briefing" for c in changes):
            return Reply(
                title=msg.show_title(sub.watchlist),
                text=msg.briefing_changed(sub.watchlist, updated.briefing == "premarket"),
            )
        shown = describe_changes(changes, self.tz, now=self.clock.now())
        return Reply(title=msg.show_title(sub.watchlist), text=msg.options_changed(sub.watchlist, shown))

    @handles("watch", "unsubscribe")
    async def unsubscribe(self, ctx: CommandContext, cmd: UnsubscribeCmd) -> Reply:
        sub = await self._channel_subscription(ctx, cmd.name)
        if sub is None:
            raise CommandError(msg.not_subscribed(cmd.name))
        self.permissions.check(ctx, "subscribe")
        if sub.origin == "config":
            raise CommandError(msg.config_subscription(sub.watchlist))
        await self.store.remove_subscription(channel=sub.channel, scope=sub.scope, watchlist=sub.watchlist)
        return Reply(title=msg.show_title(sub.watchlist), text=msg.unsubscribed(sub.watchlist))

    async def _targets(self, ctx: CommandContext, name: str | None) -> list[Subscription]:
        if name is not None:
            sub = await self._channel_subscription(ctx, name)
            if sub is None:
                raise CommandError(msg.not_subscribed(name))
            return [sub]
        subs = await self.store.list_subscriptions(channel=ctx.channel)
        if not subs:
            raise CommandError(msg.no_subscriptions())
        return subs

    @handles("watch", "mute")
    async def mute(self, ctx: CommandContext, cmd: MuteCmd) -> Reply:
        self.permissions.check(ctx, "subscribe")
        subs = await self._targets(ctx, cmd.name)
        now = self.clock.now()
        until = now + cmd.duration
        for sub in subs:
            await self.store.update_subscription_options(sub.id, replace(sub.options, mute_until=until))
        name = subs[0].watchlist if cmd.name else None
        return Reply(
            title=msg.MUTED_TITLE, text=msg.muted(format_until(until, now, self.tz), len(subs), name)
        )

    @handles("watch", "unmute")
    async def unmute(self, ctx: CommandContext, cmd: UnmuteCmd) -> Reply:
        self.permissions.check(ctx, "subscribe")
        subs = await self._targets(ctx, cmd.name)
        now = self.clock.now()
        muted = [s for s in subs if s.options.mute_until is not None and s.options.mute_until > now]
        if not muted:
            return Reply(title=msg.UNMUTED_TITLE, text=msg.not_muted(), private=True)
        for sub in muted:
            await self.store.update_subscription_options(sub.id, replace(sub.options, mute_until=None))
        name = muted[0].watchlist if cmd.name else None
        return Reply(title=msg.UNMUTED_TITLE, text=msg.unmuted(len(muted), name))


def _keys(wl: Watchlist) -> list[tuple[str, ...]]:
    return [
        *(("ticker", t) for t in wl.tickers),
        *(("keyword", *term_key(k)) for k in wl.keywords),
        *(("exclude", *term_key(x)) for x in wl.exclude),
    ]
