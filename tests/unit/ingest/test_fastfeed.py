"""The fast parser (C ElementTree) gives the same items as feedparser, or declines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.ingest.fastfeed import fast_entries
from bot.ingest.normalize import items_from_feed
from bot.ingest.parser import decompress, parse_feed
from tests.fakes.feed_host import atom, entity_bomb, entry, rss
from tests.unit.ingest.test_parse_normalize import CORPUS, NOW, _corpus_headers

URL = "https://feeds.test/feed.xml"
RSS_HEADERS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def both(body: bytes, headers: dict[str, str], url: str = URL) -> tuple[list, list]:
    """Items by the fast path (or feedparser when it declines) and by feedparser alone."""
    fast = parse_feed(body, headers, url=url)
    slow = parse_feed(body, headers, url=url, fast=False)
    kw = {"feed_id": "f", "source": "S", "base_url": url, "fetched_at": NOW}
    return items_from_feed(fast, **kw), items_from_feed(slow, **kw)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser sample corpus not found at {CORPUS}")
def test_every_corpus_sample_the_fast_path_takes_gives_feedparsers_items() -> None:
    """The 2,248 samples: wherever the fast path answers, the items equal feedparser's."""
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE")
    assert len(files) >= 2000
    taken = items_seen = 0
    mismatched: list[str] = []
    for path in files:
        raw = path.read_bytes()
        body = decompress(raw, {".gz": "gzip", ".z": "deflate"}.get(path.suffix, ""), limit=5 << 20)
        headers = _corpus_headers(body)
        if fast_entries(body, headers) is None:
            continue
        taken += 1
        fast, slow = both(body, headers, url=f"http://127.0.0.1/{path.relative_to(CORPUS)}")
        items_seen += len(slow)
        if fast != slow:
            mismatched.append(str(path.relative_to(CORPUS)))
    assert mismatched == []
    # the samples are mostly edge cases of feedparser's (many without a usable entry); the fast
    # path still takes a third of them
    assert taken >= 600 and items_seen >= 150, (taken, items_seen)


def test_ordinary_rss_and_atom_take_the_fast_path_with_the_same_items() -> None:
    published = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    entries = [
        entry(
            f"Fed &amp; markets: <b>rates</b> held {n}",
            f"https://news.test/{n}?utm_source=rss",
            guid=f"urn:{n}" if n % 2 else None,
            published=published - timedelta(minutes=n),
            description="<p>Powell spoke.</p><p>The post appeared first on News Test.</p>",
        )
        for n in range(20)
    ]
    for body, ctype in ((rss(entries), "application/rss+xml"), (atom(entries), "application/atom+xml")):
        headers = {"Content-Type": ctype}
        assert fast_entries(body, headers) is not None
        fast, slow = both(body, headers)
        assert len(fast) == 20 and fast == slow


def test_the_bench_feed_takes_the_fast_path() -> None:
    from bench.bench_ingest import feed_body

    body = feed_body(3, 1, NOW)
    assert fast_entries(body, RSS_HEADERS) is not None
    fast, slow = both(body, RSS_HEADERS)
    assert len(fast) == 20 and fast == slow


@pytest.mark.parametrize(
    ("body", "headers", "why"),
    [
        (entity_bomb(), RSS_HEADERS, "a DOCTYPE with entity declarations"),
        (
            rss([entry("Caf\u00e9", "https://x.test/1")]).replace(b"utf-8", b"iso-8859-1"),
            {"Content-Type": "application/rss+xml"},
            "another charset",
        ),
        (
            rss([entry("Caf\u00e9", "https://x.test/1")]),
            {"Content-Type": "text/xml"},
            "text/xml without a charset is US-ASCII (RFC 3023)",
        ),
        (rss([entry("x", "https://x.test/1")]), {"Content-Type": "text/html"}, "not an XML type"),
        (
            b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><item>'
            b"<title>t</title><dc:date>2026-11-25T08:00:00Z</dc:date></item></channel></rss>",
            RSS_HEADERS,
            "an element it does not read",
        ),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>t</title><content type="xhtml">'
            b'<div xmlns="http://www.w3.org/1999/xhtml">x</div></content></entry></feed>',
            RSS_HEADERS,
            "XHTML content",
        ),
        (
            b'<rss version="2.0"><channel><item><title>t</title>'
            b"<pubDate>25 November 2026</pubDate></item></channel></rss>",
            RSS_HEADERS,
            "a date form it does not parse",
        ),
        (
            b'<rss version="2.0"><channel xml:base="https://a.test/"><item><title>t</title>'
            b"<link>/x</link></item></channel></rss>",
            RSS_HEADERS,
            "xml:base",
        ),
        (b'<rss version="2.0"><channel><item><title>t</item></channel></rss>', RSS_HEADERS, "ill-formed"),
        (
            b'<rss version="2.0"><channel><item><title>don&#146;t</title></item></channel></rss>',
            RSS_HEADERS,
            "cp1252 code points that feedparser repairs",
        ),
    ],
)
def test_the_fast_path_declines_what_it_is_unsure_of(body: bytes, headers: dict[str, str], why: str) -> None:
    assert fast_entries(body, headers) is None, why
    fast, slow = both(body, headers)
    assert fast == slow


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    _text, _text, st.sampled_from(["", "https://x.test/a b", "/rel/1", "javascript:x", "https://x.test/1"])
)
# UTF-8 read as Latin-1 and encoded again: feedparser repairs it ("Ã©" -> "é"), so must the fast path
@example(title="", description="Â¡", link="")
@example(title="CafÃ© Ã©tÃ© ¡", description="NaÃ¯ve résumé", link="https://x.test/1")
def test_arbitrary_text_gives_the_same_items_either_way(title: str, description: str, link: str) -> None:
    when = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    for body, ctype in (
        (rss([entry(title, link, published=when, description=description)]), "application/rss+xml"),
        (atom([entry(title, link, published=when, description=description)]), "application/atom+xml"),
    ):
        fast, slow = both(body, {"Content-Type": ctype})
        assert fast == slow


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    fast_entries(body, RSS_HEADERS)
    fast_entries(b'<rss version="2.0"><channel><item><title>' + body + b"</title></item></channel></rss>")
