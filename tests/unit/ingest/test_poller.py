"""The poller end to end: a real feed host on loopback, the SQL store on a SQLite file, a manual clock.

What a user sees: which stories are handed on for alerting (exactly once, however many feeds
carry them, across restarts), and what ``marketbot feeds`` would show for each feed.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from bot.config import IngestConfig
from bot.domain.models import NewsItem, Story, StorySource
from bot.domain.records import FeedSpec, FeedState
from bot.domain.timeutil import ManualClock
from bot.ingest.fetcher import Fetcher
from bot.ingest.poller import Poller, enable_feed
from bot.ingest.sources import FeedSource, news_source
from bot.ports import Store
from bot.scheduler import Scheduler
from bot.store import open_store
from tests.fakes.feed_host import Entry, FeedHost, entity_bomb, entry, rss
from tests.support import factories
from tests.support.wait import wait_until

CONFIG = IngestConfig(total_timeout=2, max_failures=3)


@dataclass
class Alerts:
    """The on_stories callback: records what would be alerted."""

    stories: list[Story] = field(default_factory=list)

    async def __call__(self, stories: list[Story]) -> None:
        self.stories.extend(stories)

    def titles(self) -> list[str]:
        return [s.title for s in self.stories]

    def take(self) -> list[str]:
        out = self.titles()
        self.stories.clear()
        return out


@pytest.fixture
async def host() -> AsyncIterator[FeedHost]:
    async with FeedHost(["127.0.0.1", "127.0.0.2"]) as h:
        yield h


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'marketbot.db'}"


def feed(
    fid: str, url: str, *, name: str | None = None, backfill: int = 0, interval: int = 120
) -> FeedSource:
    return FeedSource(
        FeedSpec(id=fid, name=name or f"Feed {fid}", url=url, backfill=backfill, interval=interval)
    )


def news(clock: ManualClock, title: str, n: int, *, minutes_ago: int = 5, **kw: object) -> Entry:
    return entry(
        title, f"https://news.test/{n}", published=clock.now() - timedelta(minutes=minutes_ago), **kw
    )  # type: ignore[arg-type]


async def test_first_poll_is_stored_not_alerted_then_each_new_item_alerts_once(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    old = [news(clock, f"Older story number {n} about markets today", n, guid=f"g{n}") for n in range(3)]
    url = host.serve("/a.xml", rss(old), etag='"1"')
    alerts = Alerts()
    async with (
        open_store(db) as store,
        Poller(
            store=store, sources=[feed("a", url)], config=CONFIG, on_stories=alerts, clock=clock
        ) as poller,
    ):
        report = await poller.run_once()
        assert report.count("200") == 1 and report.new_items == 3 and alerts.take() == []

        fresh = news(clock, "US plans to restrict cloud services for Chinese AI developers", 10, guid="g10")
        host.update("/a.xml", body=rss([fresh, *old]), etag='"2"')
        clock.advance(120)
        await poller.run_once()
        assert alerts.take() == ["US plans to restrict cloud services for Chinese AI developers"]

        clock.advance(120)
        report = await poller.run_once()  # unchanged: 304
        assert report.count("304") == 1 and alerts.take() == []
        assert host.requests_to("/a.xml")[-1].headers["If-None-Match"] == '"2"'

        # the feed rewrites GUIDs and `updated` times of the same links and titles
        rewritten = [
            entry(e.title, e.link, guid=f"new-{e.guid}", published=e.published, updated=clock.now())
            for e in [fresh, *old]
        ]
        host.update("/a.xml", body=rss(rewritten), etag='"3"')
        clock.advance(120)
        report = await poller.run_once()
        assert report.count("200") == 1 and report.new_items == 0 and alerts.take() == []
        (state,) = await store.list_feeds()
        assert state.last_status == "200" and state.items_seen == 4 and state.consecutive_failures == 0


async def test_backfill_alerts_the_newest_n_of_the_first_poll(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    items = [
        news(clock, f"Backfilled story {n} about the bond market", n, minutes_ago=10 * n) for n in range(5)
    ]
    url = host.serve("/b.xml", rss(items))
    alerts = Alerts()
    async with (
        open_store(db) as store,
        Poller(
            store=store, sources=[feed("b", url, backfill=2)], config=CONFIG, on_stories=alerts, clock=clock
        ) as poller,
    ):
        await poller.run_once()
    # oldest first, so that a chat reads in order
    assert alerts.titles() == [
        "Backfilled story 1 about the bond market",
        "Backfilled story 0 about the bond market",
    ]


async def test_items_older_than_max_age_are_stored_but_never_alerted(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    url = host.serve("/c.xml", rss([news(clock, "Seed item for the first poll only", 1)]), etag='"1"')
    alerts = Alerts()
    async with (
        open_store(db) as store,
        Poller(
            store=store, sources=[feed("c", url)], config=CONFIG, on_stories=alerts, clock=clock
        ) as poller,
    ):
        await poller.run_once()
        stale = news(clock, "Story published two days ago surfaces late", 2, minutes_ago=48 * 60)
        fresh = news(clock, "Story published a minute ago is fresh news", 3, minutes_ago=1)
        host.update("/c.xml", body=rss([stale, fresh]), etag='"2"')
        await poller.run_once()
        assert alerts.titles() == ["Story published a minute ago is fresh news"]
        assert len(await store.stories(limit=10)) == 3


async def test_one_story_from_many_feeds_is_alerted_once_with_every_source(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    a = host.serve("/wire.xml", rss([news(clock, "Seed A", 1)]), etag='"1"')
    b = host.serve("/paper.xml", rss([news(clock, "Seed B", 2)]), etag='"1"', host="127.0.0.2")
    c = host.serve("/blog.xml", rss([news(clock, "Seed C", 3)]), etag='"1"')
    sources = [feed("wire", a, name="Reuters"), feed("paper", b, name="CNBC"), feed("blog", c, name="Blog")]
    alerts = Alerts()
    also: list[tuple[str, str]] = []

    async def on_sources(pairs: list[tuple[str, StorySource]]) -> None:
        also.extend((sid, src.source) for sid, src in pairs)

    async with (
        open_store(db) as store,
        Poller(
            store=store, sources=sources, config=CONFIG, on_stories=alerts, on_sources=on_sources, clock=clock
        ) as poller,
    ):
        await poller.run_once()
        title = "US plans to restrict cloud services for Chinese AI developers"
        host.update(
            "/wire.xml",
            body=rss(
                [
                    entry(
                        f"{title} - Reuters",
                        "https://reuters.test/cloud?utm_source=rss",
                        published=clock.now(),
                    )
                ]
            ),
            etag='"2"',
        )
        host.update(
            "/paper.xml",
            body=rss(
                [
                    entry(
                        f"EXCLUSIVE: {title.replace('US', 'U.S.')}",
                        "https://cnbc.test/cloud",
                        published=clock.now(),
                    )
                ]
            ),
            etag='"2"',
        )
        host.update(
            "/blog.xml",
            body=rss(
                [
                    entry(
                        "A different take on the cloud curbs",
                        "https://reuters.test/cloud",
                        published=clock.now(),
                    )
                ]
            ),
            etag='"2"',
        )
        clock.advance(60)
        report = await poller.run_once()
        assert len(alerts.stories) == 1
        assert sum(f.joined for f in report.feeds) == 2
        story = await store.get_story(alerts.stories[0].id)
        assert story is not None
        assert sorted(s.source for s in story.sources) == ["Blog", "CNBC", "Reuters"]
        assert sorted(also) == [(story.id, "Blog"), (story.id, "CNBC")]
        # later copies of the same story in the next cycle are still not alerted again
        host.update(
            "/paper.xml",
            body=rss([entry(title, "https://cnbc.test/cloud-2", published=clock.now())]),
            etag='"3"',
        )
        clock.advance(60)
        await poller.run_once()
        assert len(alerts.stories) == 1


async def test_restart_with_a_file_database_never_realerts(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    title = "Nvidia shares slide after new export rule on AI chips"
    seed = [news(clock, "Seed item present at the first poll", 1, guid="s1")]
    url = host.serve("/r.xml", rss(seed), etag='"1"')
    other = host.serve("/o.xml", rss([news(clock, "Another seed item present at first poll", 9)]), etag='"1"')
    sources = [feed("r", url), feed("o", other)]
    first = Alerts()
    async with (
        open_store(db) as store,
        Poller(store=store, sources=sources, config=CONFIG, on_stories=first, clock=clock) as poller,
    ):
        await poller.run_once()
        host.update("/r.xml", body=rss([news(clock, title, 2, guid="s2"), *seed]), etag='"2"')
        clock.advance(120)
        await poller.run_once()
    assert first.titles() == [title]

    # a new process: a new store and poller on the same database file; the feed has lost its
    # ETag support and rewritten GUIDs; another feed now carries the same story
    host.update("/r.xml", body=rss([news(clock, title, 2, guid="changed-2"), *seed]), etag=None)
    host.update(
        "/o.xml",
        body=rss([entry(f"{title} - Reuters", "https://elsewhere.test/nv", published=clock.now())]),
        etag='"2"',
    )
    clock.advance(300)
    second = Alerts()
    async with (
        open_store(db) as store,
        Poller(store=store, sources=sources, config=CONFIG, on_stories=second, clock=clock) as poller,
    ):
        report = await poller.run_once()
        assert report.count("200") == 2
        assert second.titles() == []
        (story,) = [s for s in await store.stories(limit=10) if s.title == title]
        assert {s.link for s in story.sources} == {"https://news.test/2", "https://elsewhere.test/nv"}
        # the ETag survived the restart for the feed that still sends one
        assert (await store.get_feed("o")).etag == '"2"'  # type: ignore[union-attr]


async def test_failures_back_off_and_disable_the_feed_with_a_reason(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    url = host.serve("/broken.xml", b"", fail_times=-1, fail_status=500)
    good = host.serve("/good.xml", rss([news(clock, "Good feed keeps working as usual", 1)]))
    async with (
        open_store(db) as store,
        Poller(
            store=store, sources=[feed("x", url, interval=60), feed("ok", good)], config=CONFIG, clock=clock
        ) as poller,
    ):
        report = await poller.run_once()
        state = poller.states["x"]
        assert state.consecutive_failures == 1 and state.last_error == "HTTP 500 Internal Server Error"
        assert state.last_status == "HTTP 500"
        assert timedelta(seconds=48) <= state.next_poll_at - clock.now() <= timedelta(seconds=72)  # type: ignore[operator]
        assert {f.feed_id: f.status for f in report.feeds} == {"x": "error", "ok": "200"}

        # not due yet: skipped by a due-only cycle
        report = await poller.run_once(due_only=True)
        assert {f.feed_id: f.status for f in report.feeds}["x"] == "skipped"
        delays = []
        for _ in range(2):
            clock.set(poller.states["x"].next_poll_at)  # type: ignore[arg-type]
            await poller.run_once(due_only=True)
            delays.append(poller.states["x"].next_poll_at - clock.now())  # type: ignore[operator]
        assert delays[0] >= timedelta(seconds=96)  # doubled (with jitter)
        stored = await store.get_feed("x")
        assert stored is not None and stored.consecutive_failures == 3
        assert stored.disabled_reason == "3 consecutive failures, last: HTTP 500 Internal Server Error"
        clock.advance(3600)
        report = await poller.run_once()
        assert {f.feed_id: f.status for f in report.feeds}["x"] == "skipped"
        hits = host.hits["/broken.xml"]

        await enable_feed(store, "x")
        host.update("/broken.xml", fail_times=0, body=rss([news(clock, "Back again after the outage", 5)]))
        await poller.refresh()
        report = await poller.run_once()
        assert {f.feed_id: f.status for f in report.feeds}["x"] == "200"
        assert host.hits["/broken.xml"] == hits + 1


async def test_retry_after_is_honoured_and_gone_feeds_are_disabled_at_once(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    limited = host.serve("/429.xml", b"", fail_times=-1, fail_status=429, retry_after="3600")
    gone = host.serve("/410.xml", b"", fail_times=-1, fail_status=410)
    async with (
        open_store(db) as store,
        Poller(
            store=store, sources=[feed("l", limited), feed("g", gone)], config=CONFIG, clock=clock
        ) as poller,
    ):
        await poller.run_once()
        assert poller.states["l"].next_poll_at >= clock.now() + timedelta(seconds=3600)  # type: ignore[operator]
        assert poller.states["l"].disabled_reason is None
        reason = poller.states["g"].disabled_reason
        assert (
            reason is not None
            and reason.startswith("HTTP 410 Gone")
            and "marketbot feeds --enable g" in reason
        )


async def test_misbehaving_feeds_are_reported_and_never_hold_up_the_rest(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    ok = rss([news(clock, "A perfectly ordinary story for the test", 1)])
    sources = [
        feed("drip", host.serve("/drip.xml", ok, behaviour="drip", drip_chunk=4, drip_interval=0.5)),
        feed("endless", host.serve("/endless.xml", b"", behaviour="endless")),
        feed("loop", host.serve("/loop.xml", b"", behaviour="redirect-loop")),
        feed("bomb", host.serve("/bomb.xml", entity_bomb())),
        feed(
            "html",
            host.serve(
                "/page.html", b"<html><body><p>Not a feed</p></body></html>", content_type="text/html"
            ),
        ),
        feed("gzip", host.serve("/gz.xml", ok, encoding="gzip")),
        feed(
            "charset", host.serve("/cs.xml", rss([news(clock, "Café society", 2)]).decode().encode("latin-1"))
        ),
    ]
    config = IngestConfig(total_timeout=1.5, max_body_bytes=100_000)
    async with (
        open_store(db) as store,
        Poller(store=store, sources=sources, config=config, clock=clock) as poller,
    ):
        report = await poller.run_once()
    by = {f.feed_id: f for f in report.feeds}
    assert "timed out" in (by["drip"].error or "")
    assert "limit" in (by["endless"].error or "")
    assert by["loop"].error == "more than 5 redirects"
    assert by["bomb"].status == "200" and by["bomb"].items == 2
    assert by["html"].error == "this is a web page (HTML), not an RSS or Atom feed: use the site's feed URL"
    assert by["gzip"].status == "200" and by["gzip"].items == 1
    assert by["charset"].status == "200" and by["charset"].items == 1
    titles = {s.title for s in await store.stories(limit=20)}
    assert "Café society" in titles


async def test_untrusted_feeds_cannot_reach_internal_addresses(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    url = host.serve("/internal.xml", rss([news(clock, "Internal only", 1)]))
    spec = FeedSpec(id="chat", name="From chat", url=url, origin="chat", trusted=False)
    async with (
        open_store(db) as store,
        Poller(store=store, sources=[FeedSource(spec)], config=CONFIG, clock=clock) as poller,
    ):
        report = await poller.run_once()
    (result,) = report.feeds
    assert (result.error or "").startswith("blocked") and result.disabled_reason is not None
    assert "/internal.xml" not in host.hits


@dataclass
class ListSource:
    """A NewsSource (the port) that returns whatever items the test puts in it."""

    id: str
    items: list[NewsItem] = field(default_factory=list)

    async def fetch(self) -> list[NewsItem]:
        return list(self.items)


async def test_news_sources_go_through_the_same_dedup(db: str, clock: ManualClock) -> None:
    def item(n: int, title: str) -> NewsItem:
        link = f"https://finance.test/{n}"
        return factories.item(
            "yahoo", n, at=clock.now(), id=f"yahoo-{n}", source="Yahoo Finance", title=title, link=link
        )

    src = ListSource("yahoo", [item(1, "Seed from Yahoo at the first poll")])
    alerts = Alerts()
    sources = [news_source(src, name="Yahoo Finance", interval=300)]
    async with (
        open_store(db) as store,
        Poller(store=store, sources=sources, config=CONFIG, on_stories=alerts, clock=clock) as poller,
    ):
        await poller.run_once()
        src.items.append(item(2, "Microsoft cloud revenue beats estimates"))
        await poller.run_once()
        await poller.run_once()
    assert alerts.titles() == ["Microsoft cloud revenue beats estimates"]


async def test_ticker_feeds_tag_their_stories(host: FeedHost, db: str, clock: ManualClock) -> None:
    url = host.serve("/NVDA.xml", rss([news(clock, "Seed headline for the ticker feed", 1)]), etag='"1"')
    src = FeedSource(FeedSpec(id="ticker:NVDA:1", name="NVDA news", url=url, origin="ticker"), ticker="NVDA")
    alerts = Alerts()
    async with (
        open_store(db) as store,
        Poller(store=store, sources=[src], config=CONFIG, on_stories=alerts, clock=clock) as poller,
    ):
        await poller.run_once()
        host.update(
            "/NVDA.xml", body=rss([news(clock, "Chipmaker guidance tops estimates again", 2)]), etag='"2"'
        )
        await poller.run_once()
    assert [s.tickers for s in alerts.stories] == [("NVDA",)]


async def test_article_lead_when_the_feed_gives_no_summary(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    article = (
        "<html><head><title>Chip curbs</title></head><body><nav>Home | Markets</nav><article>"
        "<h1>Chip curbs widen</h1><p>The Commerce Department widened curbs on advanced chips on Tuesday, "
        "adding cloud services to the rules for the first time.</p><p>Officials said the change closes a "
        "loophole that let developers rent computing power abroad.</p></article>"
        "<footer>Copyright</footer></body></html>"
    )
    link = host.serve("/article.html", article, content_type="text/html; charset=utf-8")
    url = host.serve("/lead.xml", rss([news(clock, "Seed", 1)]), etag='"1"')
    config = IngestConfig(fetch_articles=True, total_timeout=5)
    alerts = Alerts()
    async with (
        Fetcher(config, allow_networks=["127.0.0.0/8"]) as fetcher,
        open_store(db) as store,
        Poller(
            store=store,
            sources=[feed("lead", url)],
            config=config,
            fetcher=fetcher,
            on_stories=alerts,
            clock=clock,
        ) as poller,
    ):
        await poller.run_once()
        host.update(
            "/lead.xml",
            body=rss([entry("Chip curbs widen to cloud services", link, published=clock.now())]),
            etag='"2"',
        )
        await poller.run_once()
    (story,) = alerts.stories
    assert story.summary.startswith("The Commerce Department widened curbs on advanced chips")
    assert len(story.summary) <= 280


async def test_schedule_adds_one_non_overlapping_job_per_feed(host: FeedHost, db: str) -> None:
    urls = [host.serve(f"/s{i}.xml", rss([entry(f"Item {i}", f"https://s.test/{i}")])) for i in range(3)]
    scheduler = Scheduler(tz=UTC)
    async with (
        open_store(db) as store,
        Poller(
            store=store,
            sources=[feed(f"s{i}", u, interval=60 * (i + 1)) for i, u in enumerate(urls)],
            config=CONFIG,
        ) as poller,
    ):
        poller.attach(scheduler)
        assert scheduler.names() == {"feed:s0", "feed:s1", "feed:s2", "ingest:refresh"}
        for i in range(3):
            job = scheduler.get(f"feed:s{i}")
            assert job is not None
            assert job.max_instances == 1 and job.coalesce
            assert job.trigger.interval == timedelta(seconds=60 * (i + 1)) and job.trigger.jitter
        # the job polls when due and skips while the feed backs off
        result = await poller.poll_feed("s0")
        assert result is not None and result.status == "200"
        assert await poller.poll_feed("s0") is None  # just polled: next poll is an interval away
        await poller.aclose()
        assert scheduler.names() == set()


class _NoJitter(random.Random):
    """Spreads nothing: the first scheduled poll is due at once (still a real scheduler, real time)."""

    def uniform(self, a: float, b: float) -> float:
        return a


async def test_the_scheduler_polls_each_feed_on_its_own(host: FeedHost, db: str) -> None:
    urls = [
        host.serve(f"/live{i}.xml", rss([entry(f"Live item {i}", f"https://l.test/{i}")])) for i in range(2)
    ]
    scheduler = Scheduler(tz=UTC)
    async with (
        open_store(db) as store,
        Poller(
            store=store,
            sources=[feed(f"l{i}", u) for i, u in enumerate(urls)],
            config=CONFIG,
            rng=_NoJitter(),
        ) as poller,
    ):
        poller.attach(scheduler)
        scheduler.start()
        try:
            # each job is done once it saved its feed's state: only then stop the scheduler, whose
            # shutdown cancels jobs still running (a request seen by the host is not a finished poll)
            saved = await wait_until(
                lambda: _all_saved(store), what="both scheduled polls saving their feed state"
            )
        finally:
            scheduler.shutdown()
        assert host.hits["/live0.xml"] == 1 and host.hits["/live1.xml"] == 1
        assert [s.last_status for s in saved] == ["200", "200"]


async def _all_saved(store: Store) -> list[FeedState] | None:
    feeds = await store.list_feeds()
    return feeds if feeds and all(s.last_status == "200" for s in feeds) else None
