"""Template render timing through Flask's template signals."""

from __future__ import annotations

import threading
from time import perf_counter
from typing import Any

from flask import Flask, before_render_template, template_rendered

from metrics_store.recorder import Recorder

_starts = threading.local()


class RenderTimer:
    """Times each ``render_template`` call of one app, by template name."""

    def __init__(self, app: Flask, recorder: Recorder) -> None:
        self.recorder = recorder
        self._record = recorder.for_kind("render")
        before_render_template.connect(self._before, app, weak=False)
        template_rendered.connect(self._after, app, weak=False)

    def _before(self, sender: Any, template: Any, context: Any, **extra: Any) -> None:
        stack = getattr(_starts, "stack", None)
        if stack is None:
            stack = _starts.stack = []
        stack.append(perf_counter())

    def _after(self, sender: Any, template: Any, context: Any, **extra: Any) -> None:
        stack = getattr(_starts, "stack", None)
        if not stack:
            return
        end = perf_counter()
        self._record(template.name or "<string>", "", (end - stack.pop()) * 1000.0, end)
