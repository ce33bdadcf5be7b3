"""A separate process that claims outbox rows, for crash and concurrency tests.

python -m tests.contract.delivery_worker claim-and-block URL NOW WORKER
    claims due rows at NOW (ISO time), prints ``claimed <json keys>`` and then blocks
    forever, holding the claims: the test SIGKILLs it between claim and send.

python -m tests.contract.delivery_worker claim-and-send URL NOW WORKER
    prints ``ready``, waits for a line on stdin, then claims and "sends" (prints
    ``sent <key>``, marks the row sent) until nothing is due; prints ``done``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta

from bot.domain.models import MessageRef
from bot.store import open_store

LEASE = timedelta(seconds=60)


async def claim_and_block(url: str, now: datetime, worker: str) -> None:
    async with open_store(url, migrate=False) as store:
        claimed = await store.claim_due(now=now, limit=100, lease=LEASE, worker=worker)
        print("claimed " + json.dumps([e.key for e in claimed]), flush=True)
        await asyncio.Event().wait()


async def claim_and_send(url: str, now: datetime, worker: str) -> None:
    async with open_store(url, migrate=False) as store:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        while True:
            claimed = await store.claim_due(now=now, limit=3, lease=LEASE, worker=worker)
            if not claimed:
                # this worker holds nothing and nothing is due: whatever is left sits behind a head
                # alert the other worker holds and sends, and that worker stops only once nothing
                # is due while it holds nothing either — so every row is sent by one of them
                break
            for e in claimed:
                print(f"sent {e.key}", flush=True)
                await store.mark_sent(e.id, ref=MessageRef(e.alert.channel, f"{worker}-{e.id}"), now=now)  # type: ignore[arg-type]
        print("done", flush=True)


def main() -> None:
    mode, url, now, worker = sys.argv[1:5]
    when = datetime.fromisoformat(now)
    if mode == "claim-and-block":
        asyncio.run(claim_and_block(url, when, worker))
    elif mode == "claim-and-send":
        asyncio.run(claim_and_send(url, when, worker))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
