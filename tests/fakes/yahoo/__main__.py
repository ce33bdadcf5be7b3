"""Run the fake standalone: ``python -m tests.fakes.yahoo --port 8765``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.fakes.yahoo.calendars import SCENARIOS
from tests.fakes.yahoo.server import YahooFake


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.fakes.yahoo --port 8765 [--at ISO] [--fail quote:429]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--at", help="freeze the fake's clock at this ISO time (default: real time)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help="freeze the clock at a named moment")
    parser.add_argument(
        "--fail", action="append", default=[], help="ENDPOINT:MODE, e.g. quote:429 or all:hang"
    )
    args = parser.parse_args(argv)

    class Frozen:
        def __init__(self, at: datetime) -> None:
            self.at = at

        def now(self) -> datetime:
            return self.at

    clock = None
    if args.scenario and not args.at:
        args.at = SCENARIOS[args.scenario]
    if args.at:
        at = datetime.fromisoformat(args.at)
        clock = Frozen(at if at.tzinfo else at.replace(tzinfo=ZoneInfo("America/New_York")))

    async def serve() -> None:
        fake = YahooFake(clock=clock, host=args.host, port=args.port)
        for spec in args.fail:
            endpoint, _, mode = spec.partition(":")
            fake.fail(endpoint, mode)
        await fake.start()
        print(f"Yahoo fake listening on {fake.url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await fake.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
