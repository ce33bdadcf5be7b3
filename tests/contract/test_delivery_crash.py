"""Real processes: one killed between claim and send, two claiming at once on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.models import ChannelRef
from bot.domain.timeutil import ManualClock
from bot.store import open_store
from tests.support.factories import story
from tests.unit.delivery.support import SLACK_A, SLACK_B, make_world

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD = 60  # seconds; only to fail instead of hanging if a child misbehaves


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.contract.delivery_worker",
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), HANG_GUARD)
    return raw.decode().strip()


async def test_a_process_killed_between_claim_and_send_loses_nothing_and_sends_once(
    database_url: str, clock: ManualClock
) -> None:
    async with open_store(database_url) as store:
        w = await make_world(store, clock, prices={"NVDA": (140.0, 133.0)})
        await w.subscribe("chips", SLACK_A)
        await w.subscribe("chips", SLACK_B)
        for i in range(3):
            await w.ingest(story(f"Nvidia semiconductor crash {i}", at=clock.now()))

        proc = await spawn("claim-and-block", database_url, clock.now().isoformat(), "doomed")
        out = await line(proc)
        assert out.startswith("claimed ")
        claimed = json.loads(out.removeprefix("claimed "))
        assert len(claimed) == 2  # the head alert of each channel
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL

        # the dead process's claims still hold the channels until their lease expires
        assert (await w.dispatcher.drain()).sent == 0
        clock.advance(timedelta(seconds=w.cfg.delivery.lease + 1))
        assert (await w.dispatcher.drain()).sent == 6
    slack = w.chat["slack"]
    for ch in (SLACK_A, SLACK_B):
        assert [a.title for a in slack.alerts(ch.channel)] == [
            f"Nvidia semiconductor crash {i}" for i in range(3)
        ]
    assert slack.attempts == 6


@pytest.mark.postgres
async def test_two_processes_claiming_concurrently_on_postgresql_send_each_row_once(
    postgres: object, clock: ManualClock
) -> None:
    url = await postgres.new_database()  # type: ignore[attr-defined]
    channels = [ChannelRef("slack", f"C0{n:08d}", "T1") for n in range(20)]
    async with open_store(url) as store:
        w = await make_world(store, clock, prices={"NVDA": (140.0, 133.0)})
        for ch in channels:
            await w.subscribe("chips", ch)
        for i in range(3):
            await w.ingest(story(f"Nvidia semiconductor race {i}", at=clock.now()))

        procs = [await spawn("claim-and-send", url, clock.now().isoformat(), f"p{n}") for n in range(2)]
        for p in procs:
            assert await line(p) == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            await p.stdin.drain()
        outputs = await asyncio.gather(*(asyncio.wait_for(p.communicate(), HANG_GUARD) for p in procs))
        sent = [
            ln.removeprefix("sent ")
            for stdout, _ in outputs
            for ln in stdout.decode().splitlines()
            if ln.startswith("sent ")
        ]
        assert all(p.returncode == 0 for p in procs)
        counts = Counter(sent)
        assert len(counts) == 60 and set(counts.values()) == {1}  # every row once, none twice
        stats = await store.channel_stats()
        assert sum(s.queued for s in stats.values()) == 0
