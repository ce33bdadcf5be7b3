"""Parsing (feedparser on BytesIO, DTDs neutralised) and normalisation to NewsItem."""

from __future__ import annotations

import gzip
import os
import re
import resource
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.text import _parsed_text, _simple_text
from bot.ingest.normalize import items_from_feed
from bot.ingest.parser import BodyTooLarge, decompress, neutralize_dtd, parse_feed
from tests.fakes.feed_host import atom, entity_bomb, entry, rss

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


def _find_corpus() -> Path:
    """MARKETBOT_CORPUS_DIR, else ../shared beside the checkout, else this workplace's /work/shared."""
    candidates = [
        os.environ.get("MARKETBOT_CORPUS_DIR", ""),
        str(Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "feedparser-tests"),
        "/work/shared/corpus/feedparser-tests",
    ]
    found = next((Path(c) for c in candidates if c and Path(c).is_dir()), None)
    return found or Path(candidates[1])


CORPUS = _find_corpus()


def items(body: bytes, headers: dict[str, str] | None = None, *, url: str = "https://feeds.test/feed.xml"):
    parsed = parse_feed(body, headers or {"Content-Type": "application/rss+xml; charset=utf-8"}, url=url)
    return items_from_feed(parsed, feed_id="f", source="Test Feed", base_url=url, fetched_at=NOW)


def test_rss_entries_become_news_items_with_plain_text_and_utc_times() -> None:
    body = rss(
        [
            entry(
                "Fed &amp; markets: <b>rates</b> held",
                "https://news.test/a?utm_source=rss#top",
                guid="urn:a",
                published=datetime(2026, 11, 25, 8, 0, tzinfo=UTC),
                description="<p>Powell spoke.</p><script>alert(1)</script><p>Markets rose.</p>"
                "<p>The post Fed holds appeared first on News Test.</p>",
            )
        ]
    )
    (item,) = items(body)
    assert item.title == "Fed & markets: rates held"
    assert item.link == "https://news.test/a?utm_source=rss#top"
    assert item.canonical_url == "https://news.test/a"
    assert item.summary == "Powell spoke. Markets rose."
    assert item.published_at == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert item.fetched_at == NOW and item.guid == "urn:a" and item.id == "urn:a"
    assert item.source == "Test Feed" and item.feed_id == "f"


def test_atom_entries_and_relative_links() -> None:
    body = atom([entry("Oil jumps", "/markets/oil", published=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))])
    (item,) = items(body, {"Content-Type": "application/atom+xml"}, url="https://energy.test/atom.xml")
    assert item.link == "https://energy.test/markets/oil"
    assert item.published_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_stable_ids_guid_else_canonical_link_else_title_and_date_hash() -> None:
    with_link = items(rss([entry("A", "https://x.test/1?utm_source=a")]))[0]
    with_link_again = items(rss([entry("A", "https://x.test/1?utm_source=b")]))[0]
    assert with_link.id == with_link_again.id == "https://x.test/1"
    bare = items(rss([entry("Only a title", published=NOW - timedelta(hours=1))]))[0]
    bare_again = items(rss([entry("Only a title", published=NOW - timedelta(hours=1))]))[0]
    assert bare.id.startswith("sha256:") and bare.id == bare_again.id
    assert items(rss([entry("Only a title", published=NOW - timedelta(hours=2))]))[0].id != bare.id


def test_missing_dates_fall_back_to_first_seen_and_future_dates_are_clamped() -> None:
    undated, future = items(
        rss(
            [
                entry("No date", "https://x.test/1"),
                entry("From the future", "https://x.test/2", published=NOW + timedelta(days=2)),
            ]
        )
    )
    assert undated.published_at == NOW
    assert future.published_at == NOW


def test_entries_without_title_or_link_are_dropped_and_duplicates_collapsed() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><description>nothing else</description></item>"
        b"<item><title>Dup</title><link>https://x.test/d</link></item>"
        b"<item><title>Dup</title><link>https://x.test/d</link></item>"
        b"<item><title>Bad link</title><link>javascript:alert(1)</link></item>"
        b"</channel></rss>"
    )
    got = items(body)
    assert [i.title for i in got] == ["nothing else", "Dup", "Bad link"]
    assert got[2].link == "" and got[2].canonical_url == ""


def test_summary_is_chat_sized_and_not_the_title() -> None:
    long = "First sentence is here. " + "Second sentence goes on and on. " * 20
    a, b = items(
        rss(
            [
                entry("Title", "https://x.test/1", description=long),
                entry("Same", "https://x.test/2", description="Same"),
            ]
        )
    )
    assert len(a.summary) <= 280 and a.summary.endswith(".")
    assert b.summary == ""


def test_bozo_feeds_still_yield_entries() -> None:
    body = b"<rss><channel><title>broken</title><item><title>Still here & there</title><link>https://x.test/1</link></item>"
    parsed = parse_feed(body, {}, url="https://x.test/")
    assert parsed.bozo
    assert [
        i.title for i in items_from_feed(parsed, feed_id="f", source="s", base_url="", fetched_at=NOW)
    ] == ["Still here & there"]


def test_wrong_charset_header_still_yields_readable_titles() -> None:
    body = (
        rss([entry("Café crème prices", "https://x.test/1")])
        .replace(b"utf-8", b"iso-8859-1")
        .decode("utf-8")
        .encode("iso-8859-1")
    )
    (item,) = items(body, {"Content-Type": "application/rss+xml; charset=utf-8"})
    assert item.title == "Café crème prices"


def test_entity_bomb_is_neutralised_before_parsing() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    got = items(entity_bomb())
    assert [i.link for i in got] == ["https://bomb.test/1", "https://bomb.test/2"]
    assert "lol" * 100 not in got[0].title
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 20 * 1024  # KB: no expansion


def test_neutralize_keeps_simple_entities_and_drops_dangerous_ones() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://my.netscape.com/publish/formats/rss-0.91.dtd" [\n'
        b'<!ENTITY copy "&#169;">\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n'
        b'<!ENTITY % param "<!ENTITY boom \'x\'>">\n<!ENTITY a "&b;&b;">\n]>\n<rss/>'
    )
    out, _ = neutralize_dtd(body)
    assert b"Netscape" in out and b'<!ENTITY copy "&#169;">' in out
    assert b"SYSTEM" not in out.split(b"]>")[0].split(b"rss-0.91.dtd")[1]
    assert b"%" not in out and b"&b;" not in out


def test_neutralize_handles_utf16_bodies() -> None:
    text = entity_bomb().decode()
    body = text.encode("utf-16")
    out, headers = neutralize_dtd(body, {"Content-Type": "application/xml; charset=utf-16"})
    assert b"lol1" not in out.split(b"<rss")[0]
    assert headers["content-type"].endswith("charset=utf-8")
    parsed = parse_feed(body, {"Content-Type": "application/xml; charset=utf-16"})
    assert len(parsed.entries) == 2


def test_decompress_gzip_deflate_raw_and_mislabelled() -> None:
    doc = rss([entry("Compressed", "https://x.test/1")])
    assert decompress(gzip.compress(doc), "gzip", limit=10**6) == doc
    assert decompress(zlib.compress(doc), "deflate", limit=10**6) == doc
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decompress(raw.compress(doc) + raw.flush(), "deflate", limit=10**6) == doc
    assert decompress(doc, "gzip", limit=10**6) == doc  # labelled gzip, sent plain
    damaged = bytearray(gzip.compress(doc))
    damaged[-8] ^= 0xFF  # bad CRC in the trailer
    assert decompress(bytes(damaged), "gzip", limit=10**6) == doc


def test_decompress_caps_the_output() -> None:
    bomb = gzip.compress(b"<" + b"a" * 50_000_000)
    with pytest.raises(BodyTooLarge):
        decompress(bomb, "gzip", limit=1_000_000)


def _corpus_headers(body: bytes) -> dict[str, str]:
    headers = {}
    for m in re.finditer(rb"^Header:\s*([\w-]+):\s*(.*?)\s*$", body[:4000], re.M):
        headers[m.group(1).decode()] = m.group(2).decode("latin-1")
    return headers


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser sample corpus not found at {CORPUS}")
def test_every_corpus_sample_goes_through_parse_and_normalise() -> None:
    """The 2,248 real-world feedparser samples: news items or a clean rejection, never an exception."""
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE")
    assert len(files) >= 2000
    total_items = 0
    for path in files:
        raw = path.read_bytes()
        encoding = {".gz": "gzip", ".z": "deflate"}.get(path.suffix, "")
        body = decompress(raw, encoding, limit=5 * 1024 * 1024)
        headers = _corpus_headers(body)
        url = f"http://127.0.0.1/{path.relative_to(CORPUS)}"
        parsed = parse_feed(body, headers, url=url)
        got = items_from_feed(parsed, feed_id="corpus", source="corpus", base_url=url, fetched_at=NOW)
        for item in got:
            assert item.title, path
            assert item.published_at.tzinfo is not None and item.published_at <= NOW + timedelta(minutes=5)
            assert len(item.summary) <= 280
            assert not item.link or item.link.startswith(("http://", "https://")), (path, item.link)
        total_items += len(got)
    assert total_items > 400


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser sample corpus not found at {CORPUS}")
def test_corpus_markup_reads_the_same_on_the_fast_path() -> None:
    """Every title and description of the corpus that the plain-markup path of ``html_to_text``
    takes gives the text the HTMLParser gives."""
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE")
    taken = 0
    for path in files:
        raw = path.read_bytes()
        encoding = {".gz": "gzip", ".z": "deflate"}.get(path.suffix, "")
        body = decompress(raw, encoding, limit=5 * 1024 * 1024)
        parsed = parse_feed(body, _corpus_headers(body), url="http://127.0.0.1/")
        for e in parsed.entries:
            values = [e.get("title"), e.get("summary")] + [c.get("value") for c in e.get("content") or ()]
            for value in values:
                if isinstance(value, str) and ("<" in value or "&" in value):
                    simple = _simple_text(value)
                    if simple is not None:
                        taken += 1
                        assert simple == _parsed_text(value), (path, value)
    assert taken > 100


def test_dates_with_offsets_become_utc() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>Offset</title><link>https://x.test/1</link>"
        b"<pubDate>Wed, 25 Nov 2026 08:00:00 -0500</pubDate></item>"
        b"</channel></rss>"
    )
    (item,) = items(body)
    assert item.published_at == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    items(body)
    items(
        b'<?xml version="1.0"?><!DOCTYPE x ['
        + body
        + b"]><rss><channel><item><title>t</title></item></channel></rss>"
    )


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=300), st.text(max_size=600))
def test_arbitrary_titles_and_descriptions_normalise(title: str, description: str) -> None:
    body = rss([entry(title, "https://x.test/1", description=description)])
    for item in items(body):
        assert len(item.summary) <= 280
        assert item.title == item.title.strip()


def test_aggregator_items_name_their_publisher() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Headlines</title>'
        b"<item><title>Fed holds - Reuters</title><link>https://agg.test/1</link>"
        b'<source url="https://www.reuters.com">Reuters</source></item>'
        b"<item><title>Own story</title><link>https://agg.test/2</link></item>"
        b"</channel></rss>"
    )
    assert [i.source for i in items(body)] == ["Reuters", "Test Feed"]
