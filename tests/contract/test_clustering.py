"""Clustering by identity through the real poller, parser and store (SQLite and PostgreSQL).

Feeds are served by the loopback feed host the way their publishers serve them: SEC's Atom
feeds (a multi-filer "current filings" feed and per-company feeds whose entries carry only
``<updated>``), and three outlets' wire copies of one story. The entity detector is the rules
layer's, on the bundled symbol directory, as the app wires it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import IngestConfig
from bot.domain.models import Story
from bot.domain.records import FeedSpec
from bot.domain.rules import SymbolDirectory, detect_tickers
from bot.domain.timeutil import ManualClock
from bot.ingest.poller import Poller
from bot.ingest.sources import FeedSource
from bot.store import SqlStore
from tests.fakes.feed_host import Entry, FeedHost, atom, entry, rss

CONFIG = IngestConfig(total_timeout=5, max_failures=3)
ACME_CIK, BOLT_CIK = "0000123456", "0000654321"


@pytest.fixture
async def host() -> AsyncIterator[FeedHost]:
    async with FeedHost() as h:
        yield h


class Alerts:
    def __init__(self) -> None:
        self.stories: list[Story] = []

    async def __call__(self, stories: list[Story]) -> None:
        self.stories.extend(stories)


def feed(fid: str, url: str, name: str) -> FeedSource:
    return FeedSource(FeedSpec(id=fid, name=name, url=url, backfill=0, interval=120))


def poller(
    store: SqlStore, sources: list[FeedSource], clock: ManualClock, directory: SymbolDirectory, alerts: Alerts
) -> Poller:
    p = Poller(store=store, sources=sources, config=CONFIG, on_stories=alerts, clock=clock)

    def entities(title: str) -> Iterable[str]:
        return detect_tickers(title, directory)

    p.ingestor.use_entities(entities)
    return p


def filing_link(cik: str, n: int) -> str:
    acc = f"{cik}-{n // 4 % 100:02d}-{n:06d}"
    return f"https://www.sec.gov/Archives/edgar/data/{int(cik)}/{acc.replace('-', '')}/{acc}-index.htm"


def company_filings(cik: str, start: datetime) -> list[Entry]:
    """25 years of one company's filings: a 10-Q or 10-K each quarter, an 8-K after each, and
    on some days two 8-Ks (different filings, the same title)."""
    out: list[Entry] = []
    for q in range(100):
        day = start + timedelta(days=91 * q)
        form = (
            "10-K - Annual report [Section 13 and 15(d), not S-K Item 405]"
            if q % 4 == 3
            else ("10-Q - Quarterly report [Sections 13 or 15(d)]")
        )
        out.append(entry(form, filing_link(cik, 3 * q), updated=day))
        out.append(
            entry("8-K - Current report", filing_link(cik, 3 * q + 1), updated=day + timedelta(days=2))
        )
        if q % 10 == 0:
            out.append(
                entry(
                    "8-K - Current report",
                    filing_link(cik, 3 * q + 2),
                    updated=day + timedelta(days=2, hours=1),
                )
            )
    out = [
        replace(e, guid=f"urn:tag:sec.gov,2008:accession-number={e.link.rsplit('/', 1)[1][:-10]}")
        for e in out
    ]
    return sorted(out, key=lambda e: e.updated or start, reverse=True)


async def test_sec_filings_of_one_company_over_25_years_are_one_story_per_filing(
    store: SqlStore, host: FeedHost, clock: ManualClock, directory: SymbolDirectory
) -> None:
    clock.set(datetime(2026, 11, 25, 21, 0, tzinfo=UTC))
    start = clock.now() - timedelta(days=91 * 100)
    acme, bolt = company_filings(ACME_CIK, start), company_filings(BOLT_CIK, start + timedelta(hours=3))
    latest_acme, latest_bolt = acme[0], bolt[0]
    current = [
        entry(f"10-Q - ACME CORP ({ACME_CIK}) (Filer)", latest_acme.link, updated=latest_acme.updated),
        entry(
            f"10-Q - BOLT INDUSTRIES INC ({BOLT_CIK}) (Filer)", latest_bolt.link, updated=latest_bolt.updated
        ),
        entry(
            "10-Q - CARGO HOLDINGS LTD (0000999999) (Filer)",
            filing_link("0000999999", 1),
            updated=latest_bolt.updated,
        ),
    ]
    sources = [
        feed("acme", host.serve("/acme.atom", atom(acme, title="ACME CORP")), "SEC ACME"),
        feed("bolt", host.serve("/bolt.atom", atom(bolt, title="BOLT INDUSTRIES")), "SEC BOLT"),
        feed("current", host.serve("/current.atom", atom(current, title="Latest Filings")), "SEC current"),
    ]
    alerts = Alerts()
    async with poller(store, sources, clock, directory, alerts) as p:
        await p.run_once()
    stories = await store.stories(limit=1000)
    links = {e.link for e in [*acme, *bolt, *current]}
    # one story per filing: per-company titles repeat, multi-filer titles differ by company
    assert len(stories) == len(links) == len(acme) + len(bolt) + 1
    assert sorted(s.link for s in stories) == sorted(links)
    # a filing in both the company's feed and the current-filings feed is one story, two sources
    by_link = {s.link: s for s in stories}
    assert {src.source for src in by_link[latest_acme.link].sources} == {"SEC ACME", "SEC current"}
    assert {src.source for src in by_link[latest_bolt.link].sources} == {"SEC BOLT", "SEC current"}


async def test_wire_copies_are_one_story_and_still_after_a_restart(
    store: SqlStore, host: FeedHost, clock: ManualClock, directory: SymbolDirectory
) -> None:
    clock.set(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))
    seed = [
        entry(
            "Seed item present at the first poll of this feed", "https://seed.test/1", published=clock.now()
        )
    ]
    paths = {"reuters": "/reuters.xml", "cnbc": "/cnbc.xml", "ap": "/ap.xml", "wsj": "/wsj.xml"}
    urls = {k: host.serve(v, rss(seed)) for k, v in paths.items()}
    sources = [feed(k, urls[k], k.upper()) for k in ("reuters", "cnbc", "ap")]
    alerts = Alerts()
    now = clock.now()
    async with poller(store, sources, clock, directory, alerts) as p:
        await p.run_once()  # first poll: stored, not alerted
        host.update(paths["reuters"], body=rss([entry(
            "UPDATE 2-Nvidia shares slide after U.S. tightens AI chip export rules - Reuters",
            "https://www.reuters.test/markets/nvidia-export?utm_source=rss&utm_medium=feed", published=now,
        ), entry(  # a look-alike about another company is its own story
            "AMD shares slide after U.S. tightens AI chip export rules - Reuters",
            "https://www.reuters.test/markets/amd-export", published=now + timedelta(minutes=2),
        ), *seed]))  # fmt: skip
        host.update(paths["cnbc"], body=rss([entry(
            "Nvidia shares slide after US tightens AI chip export rules | CNBC",
            "https://www.cnbc.test/2026/11/25/nvidia.html?__source=rss", published=now + timedelta(minutes=4),
        ), *seed]))  # fmt: skip
        host.update(paths["ap"], body=rss([entry(
            "WASHINGTON (AP) — Nvidia shares slide after U.S. tightens AI chip export rules",
            "https://apnews.test/article/nvidia", published=now + timedelta(minutes=9),
        ), *seed]))  # fmt: skip
        clock.advance(600)
        await p.run_once()
    assert sorted(s.title for s in alerts.stories) == [
        "AMD shares slide after U.S. tightens AI chip export rules - Reuters",
        "UPDATE 2-Nvidia shares slide after U.S. tightens AI chip export rules - Reuters",
    ]
    nv = next(s for s in alerts.stories if s.title.startswith("UPDATE"))
    stored = await store.get_story(nv.id)
    assert stored is not None and {s.source for s in stored.sources} == {"REUTERS", "CNBC", "AP"}

    # a restart: the index is reloaded from the store; a fourth outlet's copy joins the story
    host.update(paths["wsj"], body=rss([entry(
        "EXCLUSIVE-Nvidia shares slide after US tightens AI chip export rules",
        "https://wsj.test/nvidia", published=now + timedelta(minutes=30),
    ), *seed]))  # fmt: skip
    wsj = feed("wsj", urls["wsj"], "WSJ")
    again = Alerts()
    async with poller(store, [*sources, wsj], clock, directory, again) as p:
        clock.advance(600)
        await p.run_once()  # WSJ's first poll: its items are stored (and clustered), not alerted
    assert again.stories == []
    stored = await store.get_story(nv.id)
    assert stored is not None and {s.source for s in stored.sources} == {"REUTERS", "CNBC", "AP", "WSJ"}
    assert len([s for s in await store.stories(limit=100) if "Nvidia" in s.title]) == 1
