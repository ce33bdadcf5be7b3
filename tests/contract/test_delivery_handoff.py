"""The hand-off from ingestion to delivery, on SQLite and PostgreSQL: stored with the story in one
transaction, finished by the pipeline only once the alerts are queued (or a deferred decision is
made), and finished by ``resume()`` after a process died in between — exactly once.

A "restart" here is a second pipeline built on the same store, as the next process would build
it; the dead one is simply dropped mid-way (its task cancelled), the way a crash drops it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.domain.models import Story, StorySource
from bot.domain.records import Handoff, IngestBatch
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore
from tests.support.wait import wait_until
from tests.unit.delivery.support import SLACK_A, SLACK_B, World, config, make_world, story

PRICES = {"AMZN": (181.20, 182.69), "MSFT": (420.00, 415.00), "NVDA": (140.00, 133.00)}
AMAZON = "Amazon expands cloud business in China as Microsoft watches"
NVIDIA = "US tightens export controls on AI chips; Nvidia falls 5%"


async def store_with_handoff(w: World, *stories: Story) -> None:
    """What ingestion commits: the stories and, in the same transaction, their hand-offs."""
    now = w.clock.now()
    await w.store.save_ingest(
        IngestBatch(new_stories=list(stories), handoffs=[Handoff(s.id, "story", now, now) for s in stories])
    )


async def pending(w: World) -> list[tuple[str, str]]:
    later = w.clock.now() + timedelta(days=1)
    return [(h.story_id, h.kind) for h in await w.store.pending_handoffs(due_before=later)]


async def test_handoffs_are_stored_with_the_story_and_finished_after_queuing(
    store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    amazon, other = story(AMAZON, at=clock.now()), story("Bakery opens a second shop", at=clock.now())
    await store_with_handoff(w, amazon, other)
    assert sorted(await pending(w)) == sorted([(amazon.id, "story"), (other.id, "story")])

    assert await w.pipeline.process([amazon, other]) == 1
    assert await pending(w) == []  # the matching one queued, the other decided: both finished
    assert await w.pipeline.resume() == 0
    assert await w.deliver() == 1


async def test_a_crash_between_storing_and_queuing_is_finished_by_the_next_start(
    store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    amazon = story(AMAZON, at=clock.now())
    await store_with_handoff(w, amazon)
    w.quotes.gate = asyncio.Event()  # the process "dies" while the alert waits for prices
    doomed = asyncio.create_task(w.pipeline.process([amazon]))
    await wait_until(lambda: w.quotes.calls, what="the pipeline to ask for prices")
    doomed.cancel()
    await asyncio.gather(doomed, return_exceptions=True)
    w.quotes.gate.set()
    assert await store.story_deliveries(amazon.id) == []

    clock.advance(timedelta(seconds=30))
    restarted = await make_world(store, clock, prices=PRICES)
    assert await restarted.pipeline.resume() == 1
    assert await restarted.pipeline.resume() == 0
    assert await restarted.deliver() == 1
    assert [a.title for a in restarted.chat["slack"].alerts(SLACK_A.channel)] == [AMAZON]
    assert await pending(restarted) == []


async def test_a_crash_after_queuing_but_before_finishing_does_not_alert_twice(
    store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    amazon = story(AMAZON, at=clock.now())
    await store_with_handoff(w, amazon)
    await w.pipeline.process([amazon])
    now = clock.now()
    # as if the process died right after queuing: the hand-off is still there
    await store.save_ingest(IngestBatch(handoffs=[Handoff(amazon.id, "story", now, now)]))
    assert await w.pipeline.resume() == 0  # the outbox key says it is queued already
    assert await w.deliver() == 1
    assert await pending(w) == []


async def test_a_min_move_decision_keeps_its_handoff_until_the_late_price_decides(
    store: SqlStore, clock: ManualClock
) -> None:
    cfg = config("delivery:\n  quote_wait: 0.05\n  late_price_wait: 60\n")
    w = await make_world(store, clock, cfg=cfg, prices=PRICES)
    await w.subscribe("chips", SLACK_B, min_move_pct=3.0)
    nvidia = story(NVIDIA, at=clock.now())
    await store_with_handoff(w, nvidia)
    w.quotes.gate = asyncio.Event()  # the price is late
    assert await w.pipeline.process([nvidia]) == 0  # nothing queued yet: the decision waits
    assert await pending(w) == [(nvidia.id, "story")]
    assert await w.pipeline.resume() == 0  # a sweep leaves a story that is still deciding alone

    # the process dies while it waits: the next one decides, with the price it gets
    await w.pipeline.aclose()
    w.quotes.gate.set()
    restarted = await make_world(store, clock, cfg=cfg, prices=PRICES)
    assert await restarted.pipeline.resume() == 1  # NVDA +5.26% >= 3%
    assert await pending(restarted) == []
    assert await restarted.deliver() == 1

    # and when the late price does arrive in time, the decision finishes the hand-off
    other = story(NVIDIA + " again", at=clock.now())
    await store_with_handoff(restarted, other)
    restarted.quotes.gate = asyncio.Event()
    assert await restarted.pipeline.process([other]) == 0
    restarted.quotes.gate.set()
    await restarted.pipeline.settle()
    assert await pending(restarted) == []
    assert await restarted.deliver() == 1


async def test_stories_too_old_when_resumed_are_not_alerted(store: SqlStore, clock: ManualClock) -> None:
    w = await make_world(store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    await store_with_handoff(w, story(AMAZON, at=clock.now()))
    clock.advance(timedelta(seconds=w.cfg.ingest.max_age + 60))  # the bot was down for a day
    restarted = await make_world(store, clock, prices=PRICES)
    assert await restarted.pipeline.resume() == 0
    assert await pending(restarted) == []


async def test_throttled_follow_ups_survive_a_restart(store: SqlStore, clock: ManualClock) -> None:
    w = await make_world(store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    amazon = story(AMAZON, at=clock.now())
    await store_with_handoff(w, amazon)
    await w.pipeline.process([amazon])
    await w.deliver()

    async def new_source(world: World, name: str) -> int:
        now = world.clock.now()
        src = StorySource(name, f"https://{name.lower()}.example/a", now)
        await world.store.save_ingest(
            IngestBatch(new_sources=[(amazon.id, src)], handoffs=[Handoff(amazon.id, "sources", now, now)])
        )
        return await world.pipeline.process_new_sources([(amazon.id, src)])

    clock.advance(timedelta(minutes=1))
    assert await new_source(w, "Bloomberg") == 1
    await w.deliver()
    clock.advance(timedelta(minutes=1))
    assert await new_source(w, "CNBC") == 0  # throttled: at most one reply per 10 minutes
    (due,) = await store.pending_handoffs(due_before=clock.now() + timedelta(days=1))
    assert due.kind == "sources" and due.due_at > clock.now()

    # the bot restarts within the interval; the timer was stored, not kept in memory
    restarted = await make_world(store, clock, prices=PRICES)
    assert await restarted.pipeline.resume() == 0  # not due yet
    clock.advance(timedelta(minutes=10))
    assert await restarted.pipeline.resume() == 1
    assert await restarted.pipeline.resume() == 0
    await restarted.deliver()
    notes = [m.message.note for m in restarted.chat["slack"].messages]  # type: ignore[union-attr]
    assert notes == ["Also reported by CNBC"]
    assert await pending(restarted) == []


async def test_a_follow_up_queued_by_a_process_that_died_is_not_queued_twice(
    store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(store, clock, prices=PRICES)
    await w.subscribe("cloud-china", SLACK_A)
    amazon = story(AMAZON, at=clock.now())
    await store_with_handoff(w, amazon)
    await w.pipeline.process([amazon])
    now = clock.now()
    src = StorySource("Bloomberg", "https://bloomberg.example/a", now)
    handoff = Handoff(amazon.id, "sources", now, now)
    await store.save_ingest(IngestBatch(new_sources=[(amazon.id, src)], handoffs=[handoff]))
    assert await w.pipeline.process_new_sources([(amazon.id, src)]) == 1
    await store.save_ingest(IngestBatch(handoffs=[handoff]))  # died before finishing the hand-off

    restarted = await make_world(store, clock, prices=PRICES)
    assert await restarted.pipeline.resume() == 0
    assert await restarted.deliver() == 2  # the story and one follow-up
    assert await pending(restarted) == []


async def test_finish_keeps_a_handoff_renewed_after_processing_began(
    store: SqlStore, clock: ManualClock
) -> None:
    t0 = clock.now()
    await store.save_ingest(IngestBatch(handoffs=[Handoff("s1", "sources", t0, t0)]))
    clock.advance(5)
    t1 = clock.now()
    await store.save_ingest(IngestBatch(handoffs=[Handoff("s1", "sources", t1, t1)]))  # new outlet
    await store.finish_handoffs(["s1"], kind="sources", as_of=t0)  # processing that began before it
    assert [h.story_id for h in await store.pending_handoffs(due_before=t1)] == ["s1"]
    await store.finish_handoffs(["s1"], kind="sources", as_of=t1)
    assert await store.pending_handoffs(due_before=t1) == []

    await store.defer_handoff("s2", kind="sources", due_at=t1 + timedelta(minutes=10))
    assert await store.pending_handoffs(due_before=t1) == []
    (later,) = await store.pending_handoffs(due_before=t1 + timedelta(minutes=10))
    assert (later.story_id, later.kind, later.due_at) == ("s2", "sources", t1 + timedelta(minutes=10))
