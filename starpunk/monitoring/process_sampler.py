"""Per-worker process gauges sampled with psutil."""

from __future__ import annotations

import logging
import os

import psutil

from metrics_store.flusher import Flusher
from metrics_store.recorder import Recorder

logger = logging.getLogger(__name__)


class ProcessSampler:
    """Samples RSS, CPU percent, threads and open descriptors of this process."""

    def __init__(self, recorder: Recorder, flusher: Flusher) -> None:
        self.recorder = recorder
        self.flusher = flusher
        self.pid = os.getpid()
        self.process = psutil.Process(self.pid)
        # The first cpu_percent reading has no interval to measure: prime it.
        self.process.cpu_percent(None)

    def sample(self) -> dict[str, float]:
        """Take one reading, record it as gauges and hand it to the flusher."""
        if self.pid != os.getpid():
            self.__init__(self.recorder, self.flusher)
        process = self.process
        with process.oneshot():
            gauges = {
                "rss_bytes": float(process.memory_info().rss),
                "cpu_percent": float(process.cpu_percent(None)),
                "threads": float(process.num_threads()),
                "open_fds": float(_open_fds(process)),
            }
        # Labelled by slot, not pid: a recycled worker's successor continues
        # the same series, so their number stays bounded.
        slot = self.flusher.worker_slot()
        if slot is not None:
            labels = f"worker={slot}"
            for name, value in gauges.items():
                self.recorder.gauge(name, labels, value)
        self.flusher.gauges = gauges
        return gauges


def _open_fds(process: psutil.Process) -> int:
    try:
        return process.num_fds()
    except (AttributeError, psutil.Error):
        return 0
