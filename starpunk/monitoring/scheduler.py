"""Background jobs in each worker: flush, process sampling and site-wide work."""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from metrics_store.flusher import RECOVERABLE, Flusher
from metrics_store.retention import RetentionPolicy, prune
from metrics_store.store import MetricsStore
from metrics_store.timebuckets import DAY, MINUTE, floor_to
from starpunk.monitoring.process_sampler import ProcessSampler
from starpunk.monitoring.settings import MetricsSettings

logger = logging.getLogger(__name__)

ROLLUP_EVERY_SECONDS = 60
RETENTION_CHECK_SECONDS = 3600


class SiteJobs:
    """Jobs every worker schedules but exactly one runs per period.

    The first worker to insert ``(job, period)`` into ``job_runs`` does the
    work; the others see the row and skip.
    """

    def __init__(self, store: MetricsStore, flusher: Flusher, policy: RetentionPolicy):
        self.store = store
        self.flusher = flusher
        self.policy = policy

    def rollup(self) -> bool:
        """Recompute changed hours, once per minute site-wide; True if this ran it."""
        return self._run_once("rollup", floor_to(time.time(), MINUTE), self._rollup)

    def retention(self) -> bool:
        """Prune expired rows, once per UTC day site-wide; True if this ran it."""
        return self._run_once("retention", floor_to(time.time(), DAY), self._prune)

    def _rollup(self) -> str:
        return f"{self.store.rollup_hours()} hours"

    def _prune(self) -> str:
        return repr(prune(self.store, self.policy, time.time()))

    def _run_once(self, job: str, period: int, work) -> bool:
        if self.flusher.failing:
            return False  # the flush already reported the fault; retry next period
        try:
            if not self.store.claim_job(job, period):
                return False
            detail = work()
            self.store.finish_job(job, period, detail)
        except RECOVERABLE as exc:
            logger.warning("metrics %s job failed: %s", job, exc)
            return False
        return True


def build_scheduler(
    settings: MetricsSettings,
    flusher: Flusher,
    sampler: ProcessSampler,
    site_jobs: SiteJobs,
) -> BackgroundScheduler:
    """Return a scheduler (not yet started) with this worker's jobs."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone=UTC,
        daemon=True,
    )
    now = datetime.now(UTC)
    scheduler.add_job(
        flusher.flush, "interval", seconds=settings.flush_seconds, id="flush"
    )
    scheduler.add_job(
        sampler.sample,
        "interval",
        seconds=settings.process_seconds,
        id="process",
        next_run_time=now + timedelta(seconds=1),
    )
    scheduler.add_job(
        site_jobs.rollup, "interval", seconds=ROLLUP_EVERY_SECONDS, id="rollup"
    )
    # Spread the first retention check so restarted workers do not all race.
    scheduler.add_job(
        site_jobs.retention,
        "interval",
        seconds=RETENTION_CHECK_SECONDS,
        id="retention",
        next_run_time=now + timedelta(seconds=30 + random.uniform(0, 60)),
    )
    return scheduler
