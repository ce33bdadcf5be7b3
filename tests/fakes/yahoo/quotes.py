"""The v7 quote and v10 quoteSummary endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.yahoo.calendars import _day_of, _prev_session, _times
from tests.fakes.yahoo.instruments import _EXCHANGE_INFO, Instrument
from tests.fakes.yahoo.wire import _json


class QuoteRoutes:
    """The v7 quote and v10 quoteSummary endpoints (a part of ``YahooFake``)."""

    def _points(self, inst: Instrument, now: datetime) -> dict[str, tuple[float, datetime] | None]:
        """The latest pre / regular / post trades at ``now`` (Yahoo's view of 'today')."""
        code = inst.exchange
        day = _day_of(code, now)
        t = _times(code, day)
        assert t is not None
        prev = _prev_session(code, day)
        tprev = _times(code, prev)
        assert tprev is not None
        halted = inst.halted_at
        pre = regular = post = None
        if now < t.open:
            regular = (inst.close_on(prev), tprev.close + timedelta(seconds=1))
            if inst.extended and t.pre is not None and (p := inst.pre_price(day)) is not None:
                first = t.pre + timedelta(minutes=1)
                if now >= first:
                    pre = (p, min(now, t.open).replace(microsecond=0))
        elif now < t.close:
            at = now.replace(microsecond=0)
            if halted is not None and halted <= now:
                at = max(halted.replace(microsecond=0), t.open)
            regular = (inst.regular_price(day, at), at)
        else:
            close_at = t.close + timedelta(seconds=1)
            if halted is not None and halted < t.close:
                close_at = max(halted.replace(microsecond=0), t.open)
                regular = (inst.regular_price(day, close_at), close_at)
            else:
                regular = (inst.close_on(day), close_at)
            if (
                inst.extended
                and t.post is not None
                and (p := inst.post_price(day)) is not None
                and not halted
            ):
                first = t.close + timedelta(minutes=1)
                if now >= first:
                    post = (p, min(now, t.post - timedelta(seconds=1)).replace(microsecond=0))
        return {"pre": pre, "regular": regular, "post": post}

    def _market_state(self, inst: Instrument, now: datetime) -> str:
        local = now.astimezone(inst.tz)
        t = _times(inst.exchange, local.date())
        if t is None:
            return "CLOSED"
        if now < t.starts:
            return "PREPRE"
        if t.pre is not None and now < t.open:
            return "PRE"
        if now < t.close:
            return "REGULAR"
        if t.post is not None and now < t.post:
            return "POST"
        return "POSTPOST"

    def _quote_row(self, inst: Instrument, now: datetime) -> dict[str, Any]:
        code = inst.exchange
        yexch, full, market, tzname = _EXCHANGE_INFO.get(code, ("NMS", code, "us_market", "America/New_York"))
        pts = self._points(inst, now)
        day = _day_of(code, now)
        prev = _prev_session(code, day)
        regular = pts["regular"]
        assert regular is not None
        # Yahoo's previous close belongs to the regular price's own day
        reg_day = day if regular[1] >= _times(code, day).open else prev  # type: ignore[union-attr]
        prev_close = inst.close_on(_prev_session(code, reg_day))
        offset = int(now.astimezone(inst.tz).utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]
        row: dict[str, Any] = {
            "language": "en-US",
            "region": "US",
            "quoteType": inst.quote_type,
            "typeDisp": "Equity" if inst.quote_type == "EQUITY" else inst.quote_type.title(),
            "quoteSourceName": "Nasdaq Real Time Price",
            "triggerable": True,
            "customPriceAlertConfidence": "HIGH",
            "currency": inst.currency,
            "marketState": self._market_state(inst, now),
            "exchange": yexch,
            "shortName": inst.short_name or inst.name,
            "longName": inst.name,
            "messageBoardId": f"finmb_{abs(hash(inst.symbol)) % 10**8}",
            "exchangeTimezoneName": tzname,
            "exchangeTimezoneShortName": now.astimezone(inst.tz).tzname(),
            "gmtOffSetMilliseconds": offset,
            "market": market,
            "esgPopulated": False,
            "hasPrePostMarketData": inst.extended,
            "firstTradeDateMilliseconds": 345479400000,
            "priceHint": 2,
            "regularMarketPrice": regular[0],
            "regularMarketTime": int(regular[1].timestamp()),
            "regularMarketChange": round(regular[0] - prev_close, 4),
            "regularMarketChangePercent": round((regular[0] - prev_close) / prev_close * 100, 6),
            "regularMarketPreviousClose": prev_close,
            "regularMarketOpen": inst.open_on(reg_day),
            "regularMarketDayHigh": round(max(regular[0], inst.open_on(reg_day)) * 1.004, 2),
            "regularMarketDayLow": round(min(regular[0], inst.open_on(reg_day)) * 0.996, 2),
            "regularMarketVolume": inst.volume_on(reg_day),
            "bid": round(regular[0] - 0.02, 2),
            "ask": round(regular[0] + 0.02, 2),
            "bidSize": 4,
            "askSize": 6,
            "fullExchangeName": full,
            "financialCurrency": inst.currency,
            "averageDailyVolume3Month": 41_000_000,
            "fiftyTwoWeekHigh": round(inst.base * 1.25, 2),
            "fiftyTwoWeekLow": round(inst.base * 0.75, 2),
            "tradeable": inst.halted_at is None,
            "cryptoTradeable": False,
            "sourceInterval": 15,
            "exchangeDataDelayedBy": 0,
            "symbol": inst.symbol,
        }
        row["regularMarketDayRange"] = f"{row['regularMarketDayLow']} - {row['regularMarketDayHigh']}"
        for kind in ("pre", "post"):
            p = pts[kind]
            if p is not None and self.v7_extended:
                row[f"{kind}MarketPrice"] = p[0]
                row[f"{kind}MarketTime"] = int(p[1].timestamp())
                row[f"{kind}MarketChange"] = round(p[0] - regular[0], 4)
                row[f"{kind}MarketChangePercent"] = round((p[0] - regular[0]) / regular[0] * 100, 6)
        return row

    async def _quote(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("quote")) is not None:
            return bad
        if not self._crumb_ok(request):
            return _json(
                {
                    "finance": {
                        "result": None,
                        "error": {"code": "Unauthorized", "description": "Invalid Crumb"},
                    }
                },
                401,
            )
        now = self.now()
        rows = []
        for sym in request.query.get("symbols", "").split(","):
            inst = self.instruments.get(sym.strip().upper())
            if inst is None or inst.delisted:
                continue
            rows.append(self._quote_row(inst, now))
        return _json({"quoteResponse": {"result": rows, "error": None}})

    async def _summary(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("summary")) is not None:
            return bad
        if not self._crumb_ok(request):
            return _json(
                {
                    "finance": {
                        "result": None,
                        "error": {"code": "Unauthorized", "description": "Invalid Crumb"},
                    }
                },
                401,
            )
        sym = request.match_info["symbol"].upper()
        inst = self.instruments.get(sym)
        if inst is None or inst.delisted:
            return _json(
                {
                    "quoteSummary": {
                        "result": None,
                        "error": {"code": "Not Found", "description": f"Quote not found for symbol: {sym}"},
                    }
                },
                404,
            )
        row = self._quote_row(inst, self.now())
        price = {
            k: row[k]
            for k in ("currency", "exchange", "shortName", "longName", "regularMarketPrice", "marketState")
        }
        quote_type = {
            "symbol": sym,
            "quoteType": inst.quote_type,
            "exchangeTimezoneName": row["exchangeTimezoneName"],
        }
        return _json({"quoteSummary": {"result": [{"price": price, "quoteType": quote_type}], "error": None}})
