"""The finance.yahoo.com news stream (``Ticker.news``)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from aiohttp import web

from tests.fakes.yahoo.articles import _AD, Article
from tests.fakes.yahoo.wire import _json


class NewsRoutes:
    """The finance.yahoo.com news stream (``Ticker.news``) (a part of ``YahooFake``)."""

    def articles_for(self, symbol: str) -> list[Article]:
        sym = symbol.upper()
        if sym not in self.news:
            inst = self.instruments.get(sym)
            if inst is None:
                return []
            now = self.now()
            self.news[sym] = [
                Article(
                    title=f"{inst.name} shares move as analysts weigh outlook &amp; guidance",
                    summary=f"<p>Analysts at several banks updated their views on <b>{inst.name}</b>.</p>",
                    published=now - timedelta(minutes=45),
                    url=f"https://www.reuters.com/markets/{sym.lower()}-outlook-2026/?utm_source=yahoo&utm_medium=referral#main",
                    tickers=(sym,),
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sym}-1")),
                ),
                Article(
                    title=f"What to watch for {sym} this week",
                    summary="A preview of the week&#39;s events.",
                    published=now - timedelta(hours=5),
                    provider="Yahoo Finance",
                    tickers=(sym,),
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sym}-2")),
                ),
            ]
        return self.news[sym]

    async def _news(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("news")) is not None:
            return bad
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _json({"error": "bad request"}, 400)
        config = body.get("serviceConfig", {}) if isinstance(body, dict) else {}
        symbols = config.get("s") or []
        count = int(config.get("snippetCount", 10))
        stream: list[dict[str, Any]] = []
        for sym in symbols:
            stream.extend(a.to_yahoo() for a in self.articles_for(str(sym))[:count])
        if stream:
            stream.insert(min(1, len(stream)), dict(_AD))
        return _json(
            {
                "data": {"tickerStream": {"stream": stream, "nextPage": False, "pagination": {"uuids": ""}}},
                "status": "OK",
            }
        )
