"""Article leads (the optional ``articles`` extra): when a feed gives no summary, fetch the
article and take its first sentences, extracted with trafilatura.

Off unless ``ingest.fetch_articles`` is true; only alertable stories are fetched, through the
same polite fetcher (size cap, timeouts, per-host limits), and extraction runs in a worker
thread with a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.domain.models import Story
from bot.domain.summary import summarize
from bot.domain.text import collapse_whitespace
from bot.ingest.fetcher import HTML_ACCEPT, Fetcher

log = logging.getLogger(__name__)

_EXTRACT_TIMEOUT = 10.0
_MAX_ARTICLE_BYTES = 2 * 1024 * 1024


def trafilatura_available() -> bool:
    """Whether the ``articles`` extra (trafilatura) is installed."""
    try:
        import trafilatura  # noqa: F401
    except ImportError:
        return False
    return True


def _extract(html: bytes, url: str) -> str:
    import trafilatura

    text: Any = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=False, favor_precision=True
    )
    return text if isinstance(text, str) else ""


class ArticleLeads:
    """Callable that returns an article's lead for a story ("" when it cannot)."""

    def __init__(self, fetcher: Fetcher, *, summary_chars: int = 280, trusted: bool = False) -> None:
        self.fetcher = fetcher
        self.summary_chars = summary_chars
        self.trusted = trusted

    async def __call__(self, story: Story) -> str:
        result = await self.fetcher.fetch(
            story.link, trusted=self.trusted, accept=HTML_ACCEPT, max_bytes=_MAX_ARTICLE_BYTES
        )
        if not result.ok or not result.body:
            log.info("article %s not fetched: %s", story.link, result.error or "empty body")
            return ""
        async with asyncio.timeout(_EXTRACT_TIMEOUT):
            text = await asyncio.to_thread(_extract, result.body, result.final_url)
        return summarize(lead_paragraphs(text), title=story.title, limit=self.summary_chars)


def lead_paragraphs(text: str, count: int = 3) -> str:
    """The first ``count`` prose paragraphs of extracted article text.

    Leading lines that are not sentences (the headline, a byline, a dateline, a caption
    without a full stop) are skipped.
    """
    lines = [collapse_whitespace(line) for line in text.split("\n")]
    prose = [line for line in lines if line]
    while prose and (len(prose[0]) < 40 or not prose[0].rstrip("\"'”’)]").endswith((".", "!", "?", "…"))):
        prose.pop(0)
    return " ".join(prose[:count])
