"""Test a feed URL given in chat: one fetch through the SSRF guard, then parse (``/feed test``).

The same checks a chat feed meets when polled (guarded connect, redirects included, the body
cap), plus an HTML-instead-of-feed check that names the page's own feed link when it has one.
Every failure is one line that says what to fix.
"""

from __future__ import annotations

import asyncio

from bot.domain.timeutil import SystemClock
from bot.ingest.fetcher import Fetcher
from bot.ingest.normalize import items_from_feed
from bot.ingest.parser import html_instead_of_feed, parse_feed
from bot.ingest.sources import feed_id
from bot.ports import Clock, FeedCheck

PARSE_IN_THREAD_BYTES = 256 * 1024


class FeedProbe:
    """``bot.ports.FeedTester`` over the shared fetcher (whose ``allow_networks`` the operator sets)."""

    def __init__(self, fetcher: Fetcher, *, clock: Clock | None = None, summary_chars: int = 280) -> None:
        self.fetcher = fetcher
        self.clock = clock or SystemClock()
        self.summary_chars = summary_chars

    async def check(self, url: str) -> FeedCheck:
        """Fetch ``url`` once (untrusted) and parse it; the items come newest first."""
        url = url.strip()
        result = await self.fetcher.fetch(url, trusted=False)
        if not result.ok:
            return FeedCheck(url, result.final_url, error=result.error)
        if not result.body.strip():
            return FeedCheck(url, result.final_url, error="the URL answered an empty body, not a feed")
        if (why := html_instead_of_feed(result.body, result.headers, url=result.final_url)) is not None:
            return FeedCheck(url, result.final_url, error=why)
        fetched_at = self.clock.now()

        def work() -> FeedCheck:
            parsed = parse_feed(result.body, result.headers, url=result.final_url)
            if not parsed.entries and not parsed.version:
                ctype = result.headers.get("content-type", "no content type")
                return FeedCheck(
                    url, result.final_url, error=f"not an RSS or Atom feed ({ctype}): check the URL"
                )
            items = items_from_feed(
                parsed,
                feed_id=feed_id(url, "chat"),
                source=parsed.title or url,
                base_url=result.final_url,
                fetched_at=fetched_at,
                summary_chars=self.summary_chars,
            )
            # a well-formed feed with no items yet (a new blog, a quiet filter) is still a feed
            newest = sorted(items, key=lambda i: i.published_at, reverse=True)
            return FeedCheck(url, result.final_url, title=parsed.title, items=tuple(newest))

        if len(result.body) < PARSE_IN_THREAD_BYTES:
            return work()
        return await asyncio.to_thread(work)
