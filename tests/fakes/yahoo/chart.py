"""The v8 chart endpoint: OHLCV bars, trading periods and meta."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.yahoo.calendars import _day_of, _prev_session, _times
from tests.fakes.yahoo.instruments import _EXCHANGE_INFO, Instrument
from tests.fakes.yahoo.wire import _INTERVALS, _json


class ChartRoutes:
    """The v8 chart endpoint: OHLCV bars, trading periods and meta (a part of ``YahooFake``)."""

    async def _chart(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("chart")) is not None:
            return bad
        sym = request.match_info["symbol"].upper()
        inst = self.instruments.get(sym)
        if inst is None or inst.delisted:
            return _json(
                {
                    "chart": {
                        "result": None,
                        "error": {
                            "code": "Not Found",
                            "description": "No data found, symbol may be delisted",
                        },
                    }
                },
                404,
            )
        q = request.query
        interval = q.get("interval", "1d")
        prepost = q.get("includePrePost", "false").lower() == "true" and inst.extended
        step = _INTERVALS.get(interval)
        if step is None:
            return _json(
                {
                    "chart": {
                        "result": None,
                        "error": {"code": "Bad Request", "description": f"Invalid interval {interval}"},
                    }
                },
                400,
            )
        now = self.now()
        days = self._chart_days(inst, q, now)
        return _json(
            {
                "chart": {
                    "result": [
                        self._chart_result(inst, days, interval, step, prepost, now, q.get("range", ""))
                    ],
                    "error": None,
                }
            }
        )

    def _chart_days(self, inst: Instrument, q: Any, now: datetime) -> list[date]:
        code = inst.exchange
        last = _day_of(code, now)
        if "period1" in q:
            start = datetime.fromtimestamp(int(q["period1"]), UTC)
            end = datetime.fromtimestamp(int(q.get("period2", now.timestamp())), UTC)
            out: list[date] = []
            d = last
            while True:
                t = _times(code, d)
                if t is not None and t.open < end and t.close > start:
                    out.append(d)
                if t is not None and t.close <= start:
                    break
                d -= timedelta(days=1)
                if len(out) > 400 or (last - d).days > 800:
                    break
            return sorted(out)
        n = {"1d": 1, "5d": 5, "1mo": 21, "3mo": 63}.get(q.get("range", "1mo"), 21)
        out = [last]
        while len(out) < n:
            out.append(_prev_session(code, out[-1]))
        return sorted(out)

    def _chart_result(
        self,
        inst: Instrument,
        days: list[date],
        interval: str,
        step: int,
        prepost: bool,
        now: datetime,
        rng: str,
    ) -> dict[str, Any]:
        code = inst.exchange
        stamps: list[int] = []
        o: list[float | None] = []
        h: list[float | None] = []
        lo: list[float | None] = []
        c: list[float | None] = []
        v: list[int | None] = []
        for day in days:
            t = _times(code, day)
            assert t is not None
            if step >= 86400:
                start = datetime.combine(day, time(0), tzinfo=inst.tz).astimezone(UTC)
                price = self._price(inst, day, min(now, t.close))
                if price is None:
                    continue
                stamps.append(int(t.open.timestamp()) if step == 86400 else int(start.timestamp()))
                op = inst.open_on(day)
                o.append(op)
                h.append(round(max(op, price) * 1.004, 4))
                lo.append(round(min(op, price) * 0.996, 4))
                c.append(price)
                v.append(inst.volume_on(day))
                continue
            begin = t.starts if prepost else t.open
            end = min(now, t.ends if prepost else t.close)
            bar = begin
            while bar < end:
                if t.break_start and t.break_end and t.break_start <= bar < t.break_end:
                    bar += timedelta(seconds=step)
                    continue
                probe = min(bar + timedelta(seconds=step) - timedelta(seconds=1), end)
                price = self._price(inst, day, probe)
                if price is not None:
                    stamps.append(int(bar.timestamp()))
                    first = self._price(inst, day, bar) or price
                    o.append(first)
                    h.append(round(max(first, price) * 1.0003, 4))
                    lo.append(round(min(first, price) * 0.9997, 4))
                    c.append(price)
                    v.append(int(1000 + (hash((inst.symbol, bar)) % 50_000)))
                bar += timedelta(seconds=step)
        last = days[-1]
        tl = _times(code, last)
        assert tl is not None
        prev_close = inst.close_on(_prev_session(code, days[0]))
        pts = self._points(inst, now)
        regular = pts["regular"]
        assert regular is not None
        tzname = str(inst.tz)
        offset = int(now.astimezone(inst.tz).utcoffset().total_seconds())  # type: ignore[union-attr]
        abbrev = now.astimezone(inst.tz).tzname()

        def period(a: datetime, b: datetime) -> dict[str, Any]:
            return {
                "timezone": abbrev,
                "start": int(a.timestamp()),
                "end": int(b.timestamp()),
                "gmtoffset": offset,
            }

        current = {
            "pre": period(tl.pre or tl.open, tl.open),
            "regular": period(tl.open, tl.close),
            "post": period(tl.close, tl.post or tl.close),
        }
        meta: dict[str, Any] = {
            "currency": inst.currency,
            "symbol": inst.symbol,
            "exchangeName": _EXCHANGE_INFO.get(code, ("NMS",))[0],
            "fullExchangeName": _EXCHANGE_INFO.get(code, ("", "NasdaqGS"))[1],
            "instrumentType": inst.quote_type,
            "firstTradeDate": 345479400,
            "regularMarketTime": int(regular[1].timestamp()),
            "hasPrePostMarketData": inst.extended,
            "gmtoffset": offset,
            "timezone": abbrev,
            "exchangeTimezoneName": tzname,
            "regularMarketPrice": regular[0],
            "fiftyTwoWeekHigh": round(inst.base * 1.25, 2),
            "fiftyTwoWeekLow": round(inst.base * 0.75, 2),
            "regularMarketDayHigh": round(max(regular[0], inst.open_on(last)) * 1.004, 2),
            "regularMarketDayLow": round(min(regular[0], inst.open_on(last)) * 0.996, 2),
            "regularMarketVolume": inst.volume_on(last),
            "longName": inst.name,
            "shortName": inst.name,
            "chartPreviousClose": prev_close,
            "priceHint": 2,
            "currentTradingPeriod": current,
            "dataGranularity": interval,
            "range": rng,
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        }
        if rng == "1d":
            meta["previousClose"] = prev_close
            meta["scale"] = 3
        if step < 86400:
            spans = [t for t in (_times(code, d) for d in days) if t is not None]
            if prepost:
                meta["tradingPeriods"] = {
                    "pre": [[period(t.pre or t.open, t.open)] for t in spans],
                    "regular": [[period(t.open, t.close)] for t in spans],
                    "post": [[period(t.close, t.post or t.close)] for t in spans],
                }
            else:
                meta["tradingPeriods"] = [[period(t.open, t.close)] for t in spans]
        result: dict[str, Any] = {
            "meta": meta,
            "indicators": {"quote": [{"open": o, "high": h, "low": lo, "close": c, "volume": v}]},
        }
        if stamps:
            result["timestamp"] = stamps
        else:
            result["indicators"] = {"quote": [{}]}
        if step >= 86400:
            result["indicators"]["adjclose"] = [{"adjclose": list(c)}]
        return result

    def _price(self, inst: Instrument, day: date, when: datetime) -> float | None:
        """The price at ``when`` on ``day``: the latest trade so far (None before any)."""
        t = _times(inst.exchange, day)
        assert t is not None
        halted = inst.halted_at
        if halted is not None and when >= halted:
            if halted < t.open:
                return None
            when = halted
        if when < t.open:
            if not inst.extended or t.pre is None or when < t.pre + timedelta(minutes=1):
                return None
            return inst.pre_price(day)
        if when < t.close:
            return inst.regular_price(day, when)
        if inst.extended and t.post is not None and when >= t.close + timedelta(minutes=1) and not halted:
            p = inst.post_price(day)
            return p if p is not None else None
        return inst.close_on(day) if when < t.close + timedelta(minutes=1) or not inst.extended else None
