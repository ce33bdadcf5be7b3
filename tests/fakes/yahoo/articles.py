"""News stories in the shape Yahoo's ``tickerStream`` carries them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# ---------------------------------------------------------------- news


@dataclass
class Article:
    """A story in a ticker's Yahoo news stream."""

    title: str
    summary: str
    published: datetime
    provider: str = "Reuters"
    url: str = ""  # the publisher's URL (clickThroughUrl); empty: hosted on Yahoo
    tickers: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    content_type: str = "STORY"

    def to_yahoo(self) -> dict[str, Any]:
        slug = "-".join("".join(c if c.isalnum() else " " for c in self.title.lower()).split())[:80]
        hosted = f"https://finance.yahoo.com/news/{slug}-{self.id[:9]}.html"
        stamp = self.published.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "id": self.id,
            "content": {
                "id": self.id,
                "contentType": self.content_type,
                "title": self.title,
                "description": "",
                "summary": self.summary,
                "pubDate": stamp,
                "displayTime": stamp,
                "isHosted": not self.url,
                "bypassModal": False,
                "previewUrl": None,
                "thumbnail": {
                    "originalUrl": "https://media.zenfs.com/en/reuters.com/0123456789abcdef",
                    "originalWidth": 1200,
                    "originalHeight": 800,
                    "caption": "",
                    "resolutions": [],
                },
                "provider": {
                    "displayName": self.provider,
                    "url": "https://www.reuters.com/",
                    "sourceId": "reuters.com",
                },
                "canonicalUrl": {"url": hosted, "site": "finance", "region": "US", "lang": "en-US"},
                "clickThroughUrl": {
                    "url": self.url or hosted,
                    "site": "finance",
                    "region": "US",
                    "lang": "en-US",
                },
                "metadata": {"editorsPick": False},
                "finance": {
                    "premiumFinance": {"isPremiumNews": False, "isPremiumFreeNews": False},
                    "stockTickers": [{"symbol": t} for t in self.tickers],
                },
                "storyline": None,
            },
        }


_AD = {
    "id": "ad-0001",
    "ad": [{"adId": "0001", "type": "native", "title": "Open a brokerage account today"}],
    "content": {"id": "ad-0001", "contentType": "AD", "title": "Sponsored"},
}
