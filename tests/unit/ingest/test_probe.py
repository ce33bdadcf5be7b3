"""`/feed test` and `/feed add` checks: the SSRF guard at connect time, the body cap, HTML pages.

A real feed host on loopback and the real aiohttp client. The loopback fakes are private
addresses, so the default (no ``chat_feeds.allow_networks``) must refuse them; tests that need to
reach a fake open 127.0.0.0/8 explicitly, the way an operator opens an intranet range.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.config import BotConfig, ChatFeedsConfig, IngestConfig
from bot.ingest.fetcher import Fetcher
from bot.ingest.parser import html_instead_of_feed
from bot.ingest.probe import FeedProbe
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.support.resolver import FixedResolver

DOC = rss(
    [
        entry("Old story", "https://news.test/1", published=datetime(2026, 11, 30, 9, tzinfo=UTC)),
        entry("Newest story", "https://news.test/3", published=datetime(2026, 12, 2, 9, tzinfo=UTC)),
        entry("Middle story", "https://news.test/2", published=datetime(2026, 12, 1, 9, tzinfo=UTC)),
    ],
    title="Loopback Wire",
)
PAGE = (
    b"<!DOCTYPE html><html><head><title>Wire</title>"
    b'<link rel="alternate" type="application/rss+xml" title="RSS" href="/rss.xml">'
    b"</head><body>news</body></html>"
)
CONFIG = IngestConfig(total_timeout=5, connect_timeout=2, max_body_bytes=1_000_000)


@pytest.fixture
async def host() -> AsyncIterator[FeedHost]:
    async with FeedHost(["127.0.0.1", "127.0.0.2"]) as h:
        yield h


@pytest.fixture
async def guarded() -> AsyncIterator[FeedProbe]:
    """The production default: no allowed networks."""
    async with Fetcher(CONFIG, allow_networks=BotConfig().chat_feeds.allow_networks) as f:
        yield FeedProbe(f)


@pytest.fixture
async def opened() -> AsyncIterator[FeedProbe]:
    """An operator who opened 127.0.0.2 only (the 'intranet' feed host)."""
    async with Fetcher(
        CONFIG, allow_networks=ChatFeedsConfig(allow_networks=["127.0.0.2/32"]).allow_networks
    ) as f:
        yield FeedProbe(f)


async def test_default_refuses_loopback_and_nothing_is_sent(host: FeedHost, guarded: FeedProbe) -> None:
    url = host.serve("/feed.xml", DOC)
    check = await guarded.check(url)
    assert not check.ok and check.error is not None
    assert check.error.startswith("blocked: 127.0.0.1 is not a public address")
    assert "\n" not in check.error
    assert host.hits.get("/feed.xml") is None


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "0.0.0.0", "192.168.1.10"])
async def test_private_and_metadata_addresses_are_refused_before_connecting(
    guarded: FeedProbe, address: str
) -> None:
    check = await guarded.check(f"http://{address}/latest/meta-data/")
    assert check.error is not None and check.error.startswith(f"blocked: {address} is not a public address")


async def test_ipv6_loopback_and_v4_mapped_are_refused(guarded: FeedProbe) -> None:
    for url, shown in (("http://[::1]:9/feed", "::1"), ("http://[::ffff:127.0.0.1]:9/feed", "::ffff:7f00:1")):
        check = await guarded.check(url)
        assert check.error is not None and check.error.startswith("blocked") and shown in check.error, url


async def test_a_name_that_resolves_to_loopback_is_refused(host: FeedHost) -> None:
    url = host.serve("/rebind.xml", DOC).replace("127.0.0.1", "feeds.example.com")
    async with Fetcher(CONFIG, resolver=FixedResolver("127.0.0.1")) as f:
        check = await FeedProbe(f).check(url)
    assert check.error is not None and check.error.startswith("blocked: 127.0.0.1")
    assert host.hits.get("/rebind.xml") is None


async def test_a_redirect_from_an_allowed_host_to_a_private_address_is_refused(
    host: FeedHost, opened: FeedProbe
) -> None:
    internal = host.serve("/admin.xml", DOC)  # on 127.0.0.1: not opened
    host.serve("/jump", b"", behaviour="redirect", location=internal, host="127.0.0.2")
    check = await opened.check(host.url("/jump", "127.0.0.2"))
    assert check.error is not None and check.error.startswith("blocked: 127.0.0.1")
    assert host.hits.get("/admin.xml") is None
    assert host.hits["/jump"] == 1


async def test_an_allowed_network_is_fetched_newest_items_first(host: FeedHost, opened: FeedProbe) -> None:
    check = await opened.check(host.serve("/feed.xml", DOC, host="127.0.0.2"))
    assert check.ok and check.title == "Loopback Wire"
    assert [i.title for i in check.items] == ["Newest story", "Middle story", "Old story"]


@pytest.mark.parametrize("send_length", [True, False])
async def test_a_50_mb_body_is_refused_at_the_cap(
    host: FeedHost, opened: FeedProbe, send_length: bool
) -> None:
    url = host.serve(
        "/huge.xml",
        b"",
        behaviour="huge",
        huge_bytes=50 * 1024 * 1024,
        send_length=send_length,
        host="127.0.0.2",
    )
    check = await opened.check(url)
    assert check.error is not None and "over the 976 KB limit" in check.error
    if send_length:
        assert check.error == "body is 50.0 MB, over the 976 KB limit"


async def test_an_html_page_is_refused_naming_its_feed_link(host: FeedHost, opened: FeedProbe) -> None:
    url = host.serve("/page", PAGE, content_type="text/html; charset=utf-8", host="127.0.0.2")
    check = await opened.check(url)
    assert check.error == f"this is a web page, not a feed: try its feed {host.url('/rss.xml', '127.0.0.2')}"
    bare = host.serve("/bare", b"<html><body>hi</body></html>", content_type="text/html", host="127.0.0.2")
    assert (await opened.check(bare)).error == (
        "this is a web page (HTML), not an RSS or Atom feed: use the site's feed URL"
    )


def test_html_detection_keeps_feeds_served_as_html() -> None:
    assert html_instead_of_feed(DOC, {"Content-Type": "text/html"}) is None
    assert html_instead_of_feed(DOC, {"Content-Type": "application/rss+xml"}) is None
    assert html_instead_of_feed(PAGE, {"Content-Type": "application/xml"}) is not None


async def test_only_http_and_https(guarded: FeedProbe) -> None:
    for url in ("file:///etc/passwd", "ftp://feeds.test/x", "gopher://x.test/"):
        check = await guarded.check(url)
        assert check.error == "only http:// and https:// URLs can be fetched", url


def test_chat_feeds_config_is_validated() -> None:
    cfg = ChatFeedsConfig(allow_networks=["10.20.0.0/16", "10.20.1.1/16", "fd00:12::/32"])
    assert cfg.allow_networks == ["10.20.0.0/16", "fd00:12::/32"] and cfg.limit_per_workspace == 50
    with pytest.raises(
        ValueError, match=r"'intranet' is not a network: write an address range like 10.20.0.0/16"
    ):
        ChatFeedsConfig(allow_networks=["intranet"])
    with pytest.raises(ValueError, match="would open every address"):
        ChatFeedsConfig(allow_networks=["0.0.0.0/0"])
    assert BotConfig().chat_feeds.allow_networks == []
