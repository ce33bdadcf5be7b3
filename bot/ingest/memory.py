"""The in-memory twin of a news source: items the test publishes, no network.

Published entries go through the same normaliser as every RSS/Atom entry
(``bot.ingest.normalize.item_from_entry``): plain-text titles and summaries, canonical links,
stable ids (guid, else canonical link, else a hash), UTC times clamped to the fetch time. It
keeps the ``NewsSource`` promises and runs through the same contract suite as the Yahoo news
source; a switchable outage raises ``SourceError`` the way a failing feed does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.errors import SourceError
from bot.domain.models import NewsItem
from bot.ingest.normalize import item_from_entry
from bot.ports import Clock


class MemoryNews:
    """A NewsSource whose feed is what ``publish`` put in it, newest first (at most ``keep``)."""

    def __init__(self, clock: Clock, *, feed_id: str = "memory", source: str = "Memory Wire", keep: int = 50):
        self._id = feed_id
        self.source = source
        self.clock = clock
        self.keep = keep
        self._entries: list[dict[str, Any]] = []  # newest first, as a feed lists them
        self._error: SourceError | None = None
        self.fetches = 0

    @property
    def id(self) -> str:
        return self._id

    # ------------------------------------------------------------ scripting

    def publish(
        self,
        title: str,
        link: str,
        *,
        summary: str = "",
        published_at: datetime | None = None,
        guid: str | None = None,
        publisher: str | None = None,
    ) -> None:
        """Put an entry at the top of the feed (``title``/``summary`` may carry HTML, as feeds do).

        ``published_at`` defaults to the clock's now; ``publisher`` names the original outlet
        the way an aggregator's ``<source>`` does.
        """
        when = (published_at or self.clock.now()).astimezone(UTC)
        entry: dict[str, Any] = {"title": title, "link": link, "summary": summary}
        entry["published_parsed"] = when.utctimetuple()
        entry["published"] = when.isoformat()
        if guid:
            entry["id"] = guid
        if publisher:
            entry["source"] = {"title": publisher}
        self._entries.insert(0, entry)
        del self._entries[self.keep :]

    def down(self, reason: str = "the feed answered HTTP 503", *, retryable: bool = True) -> None:
        """Every fetch fails with ``SourceError(reason)`` until ``up()``."""
        self._error = SourceError(reason, retryable=retryable)

    def up(self) -> None:
        self._error = None

    # ------------------------------------------------------------ NewsSource

    async def fetch(self) -> list[NewsItem]:
        self.fetches += 1
        if self._error is not None:
            raise self._error
        now = self.clock.now()
        out: list[NewsItem] = []
        seen: set[str] = set()
        for entry in self._entries:
            item = item_from_entry(entry, feed_id=self._id, source=self.source, base_url="", fetched_at=now)
            if item is not None and item.id not in seen:
                seen.add(item.id)
                out.append(item)
        return out

    async def aclose(self) -> None:
        return None
