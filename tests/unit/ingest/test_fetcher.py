"""The fetcher against a real (misbehaving) feed host on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from bot.config import IngestConfig
from bot.ingest.fetcher import DEFAULT_USER_AGENT, Fetcher, is_public_address, parse_retry_after
from tests.fakes.feed_host import FeedHost, entry, http_date, rss
from tests.support.resolver import FixedResolver

DOC = rss([entry("Fed holds rates", "https://news.test/fed")])


@pytest.fixture
async def host() -> AsyncIterator[FeedHost]:
    async with FeedHost(["127.0.0.1", "127.0.0.2"]) as h:
        yield h


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(IngestConfig(total_timeout=1.5, max_body_bytes=200_000, connect_timeout=2)) as f:
        yield f


async def test_conditional_get_with_etag_and_last_modified(host: FeedHost, fetcher: Fetcher) -> None:
    url = host.serve("/etag.xml", DOC, etag='"v1"')
    first = await fetcher.fetch(url)
    assert first.status == 200 and first.body == DOC and first.etag == '"v1"'
    second = await fetcher.fetch(url, etag=first.etag)
    assert second.not_modified and second.body == b""
    sent = host.requests_to("/etag.xml")[-1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["User-Agent"] == DEFAULT_USER_AGENT and DEFAULT_USER_AGENT.startswith("marketbot/")
    assert "gzip" in sent["Accept-Encoding"] and "deflate" in sent["Accept-Encoding"]

    modified = http_date(
        __import__("datetime").datetime(2026, 11, 25, 12, 0, tzinfo=__import__("datetime").UTC)
    )
    url = host.serve("/lm.xml", DOC, last_modified=modified)
    first = await fetcher.fetch(url)
    assert first.status == 200 and first.last_modified == modified
    again = await fetcher.fetch(url, last_modified=first.last_modified)
    assert again.not_modified
    assert host.requests_to("/lm.xml")[-1].headers["If-Modified-Since"] == modified


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "gzip-lie"])
async def test_compressed_bodies_are_decoded(host: FeedHost, fetcher: Fetcher, encoding: str) -> None:
    url = host.serve(f"/{encoding}.xml", DOC, encoding=encoding)
    result = await fetcher.fetch(url)
    assert result.ok and result.body == DOC


async def test_server_errors_and_retry_after(host: FeedHost, fetcher: Fetcher) -> None:
    url = host.serve("/500.xml", DOC, fail_times=-1, fail_status=500)
    result = await fetcher.fetch(url)
    assert result.status == 500 and result.error == "HTTP 500 Internal Server Error" and result.retryable
    url = host.serve("/429.xml", DOC, fail_times=-1, fail_status=429, retry_after="120")
    result = await fetcher.fetch(url)
    assert result.status == 429 and result.retry_after == 120
    url = host.serve("/503.xml", DOC, fail_times=1, fail_status=503, retry_after="7")
    assert (await fetcher.fetch(url)).retry_after == 7
    assert (await fetcher.fetch(url)).ok  # the failure was only once
    url = host.serve("/gone.xml", DOC, fail_times=-1, fail_status=410)
    assert (await fetcher.fetch(url)).permanent


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after(http_date(now + timedelta(minutes=2)), now) == 120
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("99999999") == 24 * 3600


async def test_a_slow_drip_times_out_without_holding_up_other_feeds(host: FeedHost, fetcher: Fetcher) -> None:
    slow = host.serve("/drip.xml", DOC, behaviour="drip", drip_chunk=8, drip_interval=0.3)
    fast = host.serve("/fast.xml", DOC, host="127.0.0.2")
    slow_task = asyncio.create_task(fetcher.fetch(slow))
    fast_task = asyncio.create_task(fetcher.fetch(fast))
    done, _ = await asyncio.wait({slow_task, fast_task}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {fast_task} and fast_task.result().ok
    result = await slow_task
    assert result.status == 200 and result.error is not None and "timed out" in result.error


async def test_never_ending_and_huge_bodies_are_cut_at_the_cap(host: FeedHost, fetcher: Fetcher) -> None:
    endless = await fetcher.fetch(host.serve("/endless.xml", b"", behaviour="endless"))
    assert endless.error is not None and "limit" in endless.error and endless.body == b""
    huge = await fetcher.fetch(host.serve("/huge.xml", b"", behaviour="huge", huge_bytes=10_000_000))
    assert huge.error is not None and "over the" in huge.error
    unannounced = await fetcher.fetch(
        host.serve("/huge2.xml", b"", behaviour="huge", huge_bytes=10_000_000, send_length=False)
    )
    assert unannounced.error is not None and "limit" in unannounced.error
    big_gzip = await fetcher.fetch(host.serve("/bomb.gz", b"<" + b"a" * 5_000_000, encoding="gzip"))
    assert big_gzip.error is not None and "decompressed" in big_gzip.error


async def test_redirects_are_followed_at_most_five_times(host: FeedHost, fetcher: Fetcher) -> None:
    target = host.serve("/target.xml", DOC)
    host.serve("/r1", b"", behaviour="redirect", location=target)
    result = await fetcher.fetch(host.url("/r1"))
    assert result.ok and result.final_url == target and result.redirects == 1
    for n in range(5, 0, -1):  # a chain of exactly five redirects is fine
        host.serve(
            f"/chain{n}", b"", behaviour="redirect", location=host.url(f"/chain{n - 1}") if n > 1 else target
        )
    chained = await fetcher.fetch(host.url("/chain5"))
    assert chained.ok and chained.redirects == 5
    loop = await fetcher.fetch(host.serve("/loop", b"", behaviour="redirect-loop"))
    assert loop.error == "more than 5 redirects"
    assert host.hits["/loop"] == 6


async def test_connection_refused_is_a_retryable_error(fetcher: Fetcher) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await fetcher.fetch(f"http://127.0.0.1:{port}/feed")
    assert (
        result.status == 0
        and result.retryable
        and result.error is not None
        and "cannot connect" in result.error
    )


async def test_only_http_urls(fetcher: Fetcher) -> None:
    for url in ("file:///etc/passwd", "ftp://x.test/feed", "not a url"):
        result = await fetcher.fetch(url, trusted=False)
        assert result.permanent and result.error is not None


async def test_per_host_and_global_concurrency_limits(host: FeedHost) -> None:
    config = IngestConfig(per_host_limit=2, global_limit=3, total_timeout=10)
    async with Fetcher(config) as fetcher:
        urls = [
            host.serve(f"/slow{i}.xml", DOC, delay=0.2, host=h)
            for i, h in enumerate(["127.0.0.1"] * 5 + ["127.0.0.2"] * 5)
        ]
        results = await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    assert all(r.ok for r in results)
    assert host.peak["127.0.0.1"] <= 2 and host.peak["127.0.0.2"] <= 2
    assert host.peak_total <= 3


# ---------------------------------------------------------------- SSRF guard


def test_public_address_rules() -> None:
    import ipaddress

    for bad in (
        "127.0.0.1",
        "10.1.2.3",
        "192.168.1.1",
        "172.16.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
    ):
        assert not is_public_address(bad), bad
    for good in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        assert is_public_address(good), good
    assert is_public_address("127.0.0.2", [ipaddress.ip_network("127.0.0.2/32")])


async def test_untrusted_urls_cannot_reach_loopback_or_private_addresses(
    host: FeedHost, fetcher: Fetcher
) -> None:
    url = host.serve("/internal.xml", DOC)
    blocked = await fetcher.fetch(url, trusted=False)
    assert blocked.error is not None and blocked.error.startswith("blocked") and blocked.permanent
    assert host.hits.get("/internal.xml") is None  # nothing was sent
    by_name = await fetcher.fetch(url.replace("127.0.0.1", "localhost"), trusted=False)
    assert by_name.error is not None and by_name.error.startswith("blocked")
    assert (await fetcher.fetch(url)).ok  # config feeds are trusted


async def test_guard_checks_the_connected_address_not_the_name(host: FeedHost) -> None:
    """A public-looking name that resolves to loopback (DNS rebinding) is refused at connect time."""
    url = host.serve("/rebind.xml", DOC).replace("127.0.0.1", "public.example")
    async with Fetcher(IngestConfig(), resolver=FixedResolver("127.0.0.1")) as fetcher:
        result = await fetcher.fetch(url, trusted=False)
        assert result.error is not None and "127.0.0.1" in result.error
    async with Fetcher(
        IngestConfig(), resolver=FixedResolver("127.0.0.1"), allow_networks=["127.0.0.1/32"]
    ) as fetcher:
        assert (await fetcher.fetch(url, trusted=False)).ok


async def test_guard_applies_to_redirect_targets_and_pooled_connections(host: FeedHost) -> None:
    async with Fetcher(IngestConfig(), allow_networks=["127.0.0.2/32"]) as fetcher:
        allowed = host.serve("/ok.xml", DOC, host="127.0.0.2")
        assert (await fetcher.fetch(allowed, trusted=False)).ok
        internal = host.serve("/admin.xml", DOC)
        host.serve("/jump", b"", behaviour="redirect", location=internal, host="127.0.0.2")
        jumped = await fetcher.fetch(host.url("/jump", "127.0.0.2"), trusted=False)
        assert jumped.error is not None and jumped.error.startswith("blocked")
        # a trusted poll opens (and pools) a connection to 127.0.0.1; an untrusted one must not reuse it
        assert (await fetcher.fetch(internal)).ok
        assert (await fetcher.fetch(internal, trusted=False)).error is not None
    assert host.hits["/admin.xml"] == 1
