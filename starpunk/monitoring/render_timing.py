"""Template render timing, by template name, inside the app's Jinja environment."""

from __future__ import annotations

from collections.abc import Iterator
from time import perf_counter
from typing import Any

from flask import Flask
from jinja2 import Template

from metrics_store.recorder import Recorder


class RenderTimer:
    """Times each render of one app's templates, by template name.

    The app's Jinja environment makes its templates from a subclass of its
    template class whose ``render`` and ``generate`` are timed. That covers
    ``render_template``, ``render_template_string`` and ``stream_template``
    at the cost of one call per render, where Flask's template signals would
    cost two signal dispatches.
    """

    def __init__(self, app: Flask, recorder: Recorder) -> None:
        self.recorder = recorder
        environment = app.jinja_env
        environment.template_class = timed_template_class(
            environment.template_class, recorder.for_kind("render")
        )
        # Templates compiled before now would keep the untimed class.
        if environment.cache is not None:
            environment.cache.clear()


def timed_template_class(base: type[Template], record: Any) -> type[Template]:
    """Return a subclass of ``base`` that records each render with ``record``."""

    class TimedTemplate(base):
        def render(self, *args: Any, **kwargs: Any) -> str:
            began = perf_counter()
            text = base.render(self, *args, **kwargs)
            end = perf_counter()
            record(self.name or "<string>", "", (end - began) * 1000.0, end)
            return text

        def generate(self, *args: Any, **kwargs: Any) -> Iterator[str]:
            began = perf_counter()
            yield from base.generate(self, *args, **kwargs)
            end = perf_counter()
            record(self.name or "<string>", "", (end - began) * 1000.0, end)

    return TimedTemplate
