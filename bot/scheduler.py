"""Scheduling, in one place: services describe their work as ``Job``s, this module runs them.

The only module that imports APScheduler (3.x). Every job gets the same treatment: runs never
overlap, missed runs coalesce, a failure is one log line (a database outage without a traceback)
and the job runs again at its next turn, a shutdown cancels what is running, and a job marked
``once_cluster_wide`` runs a tick only on the replica holding its lease (so with several replicas
one of them runs it, and another one as soon as that one is dead).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from typing import Any

from apscheduler.job import Job as ApsJob
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.cluster import Node
from bot.domain.errors import StoreError
from bot.ports import Job
from bot.store.news import is_outage

log = logging.getLogger(__name__)


def trigger_of(job: Job) -> BaseTrigger:
    """The APScheduler trigger for ``job``'s timing (a cron keeps its wall time across DST)."""
    if job.every is not None:
        jitter = job.jitter if job.jitter is not None else min(5.0, job.every / 10)
        return IntervalTrigger(seconds=job.every, jitter=jitter or None)
    if job.daily_at is not None:
        return CronTrigger(hour=job.daily_at.hour, minute=job.daily_at.minute, timezone=job.tz)
    return DateTrigger()  # at_start: once, now


class Scheduler:
    """The app's ``JobHost``: an ``AsyncIOScheduler`` running ``Job``s with one policy."""

    def __init__(self, *, tz: tzinfo, node: Node | None = None) -> None:
        self.aps = AsyncIOScheduler(timezone=tz)
        self.node = node
        self.running_tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ JobHost

    def add(self, job: Job) -> None:
        extra: dict[str, Any] = {}
        if job.first_in is not None:
            extra["next_run_time"] = datetime.now(self.aps.timezone) + timedelta(seconds=job.first_in)
        if job.grace is not None or job.at_start:
            extra["misfire_grace_time"] = None if job.at_start else max(1, int(job.grace or 1))
        self.aps.add_job(
            self._runner(job),
            trigger_of(job),
            id=job.name,
            name=job.title or job.name,
            max_instances=1,
            coalesce=True,
            replace_existing=True,
            **extra,
        )

    def add_all(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            self.add(job)

    def remove(self, name: str) -> None:
        try:
            self.aps.remove_job(name)
        except JobLookupError:
            pass

    def run_at(self, name: str, when: datetime) -> None:
        try:
            self.aps.modify_job(name, next_run_time=when)
        except JobLookupError:
            pass

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.aps.start()

    def shutdown(self) -> None:
        """Stop firing and cancel the jobs still running (their work is durable or redone)."""
        if self.aps.running:
            self.aps.shutdown(wait=False)

    @property
    def running(self) -> bool:
        return bool(self.aps.running)

    def get(self, name: str) -> ApsJob | None:
        """The scheduled APScheduler job of that name (for status displays and tests)."""
        return self.aps.get_job(name)

    def names(self) -> set[str]:
        return {j.id for j in self.aps.get_jobs()}

    # ------------------------------------------------------------ the one policy

    def _runner(self, job: Job) -> Any:
        async def run() -> None:
            await self.tick(job)

        return run

    async def tick(self, job: Job) -> bool:
        """One run of ``job`` under the policy; False when it did not run or failed.

        Never raises: a shutdown's cancellation ends it quietly (the work is durable or redone),
        a database error is one line, anything else is logged with its traceback.
        """
        task = asyncio.current_task()
        if task is not None:
            self.running_tasks.add(task)
        try:
            ttl = (job.every or 60.0) * 0.9
            if (
                job.once_cluster_wide
                and self.node is not None
                and not await self.node.turn(job.name, ttl=ttl)
            ):
                return False  # another replica holds this job's lease
            await job.run()
            return True
        except asyncio.CancelledError:
            log.info("%s: stopped by the shutdown", job.name)
        except StoreError as exc:
            log.error("%s failed: %s; %s", job.name, exc, job.on_error)
        except Exception as exc:
            if is_outage(exc):  # the database is away (a restart, a network cut): one line each time
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                log.error("%s failed, the database is unreachable (%s); %s", job.name, reason, job.on_error)
            else:
                log.exception("%s failed; %s", job.name, job.on_error)
        finally:
            if task is not None:
                self.running_tasks.discard(task)
        return False
