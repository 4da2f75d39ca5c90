"""Instrumented SQLite connections: every statement timed, normalized."""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache
from time import perf_counter
from typing import Any

from metrics_store.recorder import Recorder

MAX_STATEMENT_CHARS = 200
_OPS = ("SELECT", "INSERT", "UPDATE", "DELETE")

_STRING = re.compile(r"'(?:[^']|'')*'")
_QUOTED_NAME = re.compile(r'"(?:[^"]|"")*"')
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|0[xX][0-9a-fA-F]+)\b")
_NAMED_PARAM = re.compile(r"[:@$][A-Za-z_]\w*|\?\d*")
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)+\s*\)", re.I)
_SPACE = re.compile(r"\s+")
_PLACEHOLDER = "\ue000"
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)

# The process-wide recorder used by connections opened with ``connect``, and
# its fast path for the ``db`` kind.
_recorder: Recorder | None = None
_record_db = None


def set_recorder(recorder: Recorder | None) -> None:
    """Make ``recorder`` receive the timings of connections opened from now on."""
    global _recorder, _record_db
    _recorder = recorder
    _record_db = recorder.for_kind("db") if recorder is not None else None


@lru_cache(maxsize=2048)
def normalize_sql(sql: str) -> tuple[str, str]:
    """Return ``(statement, op)``: literals as ``?``, spaces collapsed, ≤200 chars."""
    text = _COMMENT.sub(" ", sql)
    text = _STRING.sub("?", text)
    # Quoted identifiers may hold digits: set them aside while numbers go.
    names = _QUOTED_NAME.findall(text)
    text = _QUOTED_NAME.sub(_PLACEHOLDER, text)
    text = _NUMBER.sub("?", text)
    text = _NAMED_PARAM.sub("?", text)
    text = _IN_LIST.sub(lambda match: match.group()[:2] + " (?)", text)
    if names:
        pieces = text.split(_PLACEHOLDER)
        text = "".join(p + n for p, n in zip(pieces, names + [""], strict=True))
    text = _SPACE.sub(" ", text).strip()
    first = text.split(" ", 1)[0].upper()
    op = first if first in _OPS else "OTHER"
    return text[:MAX_STATEMENT_CHARS], op


@lru_cache(maxsize=2048)
def _series_of(sql: str) -> tuple[str, str]:
    statement, op = normalize_sql(sql)
    return statement, "op=" + op


def _record(sql: str, began: float, failed: BaseException | None) -> None:
    end = perf_counter()
    record = _record_db
    if record is None:
        return
    statement, labels = _series_of(sql)
    if failed is None:
        record(statement, labels, (end - began) * 1000.0, end)
    else:
        # The error text, never the parameters: values may be secrets.
        detail = f"{type(failed).__name__}: {failed} | {statement}"[:500]
        record(statement, labels, (end - began) * 1000.0, end, True, detail)


# The base methods, called directly: ``super()`` would cost a lookup per call.
_cursor_execute = sqlite3.Cursor.execute
_cursor_executemany = sqlite3.Cursor.executemany
_cursor_executescript = sqlite3.Cursor.executescript
_connection_cursor = sqlite3.Connection.cursor
_connection_execute = sqlite3.Connection.execute


class InstrumentedCursor(sqlite3.Cursor):
    """A cursor that times ``execute``, ``executemany`` and ``executescript``."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        began = perf_counter()
        try:
            result = _cursor_execute(self, sql, parameters)
        except BaseException as exc:
            _record(sql, began, exc)
            raise
        # What _record does on success, inlined: this runs for every statement.
        end = perf_counter()
        record = _record_db
        if record is not None:
            statement, labels = _series_of(sql)
            record(statement, labels, (end - began) * 1000.0, end)
        return result

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:
        began = perf_counter()
        try:
            result = _cursor_executemany(self, sql, seq_of_parameters)
        except BaseException as exc:
            _record(sql, began, exc)
            raise
        _record(sql, began, None)
        return result

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        began = perf_counter()
        try:
            result = _cursor_executescript(self, sql_script)
        except BaseException as exc:
            _record(sql_script, began, exc)
            raise
        _record(sql_script, began, None)
        return result


class InstrumentedConnection(sqlite3.Connection):
    """A connection whose shortcut methods and cursors are all timed."""

    def cursor(self, factory: Any = InstrumentedCursor) -> sqlite3.Cursor:
        return _connection_cursor(self, factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return _connection_cursor(self, InstrumentedCursor).execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:
        cursor = _connection_cursor(self, InstrumentedCursor)
        return cursor.executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        return _connection_cursor(self, InstrumentedCursor).executescript(sql_script)


def execute_untimed(connection: sqlite3.Connection, sql: str) -> sqlite3.Cursor:
    """Run one statement of a connection's own set-up, such as a ``PRAGMA``.

    Set-up belongs to opening the connection, which is not measured either:
    timing it would add a sample to every request for a statement whose cost
    never varies.
    """
    return _connection_execute(connection, sql)


def connect(database: Any, **kwargs: Any) -> sqlite3.Connection:
    """Open an SQLite connection; measured when monitoring is active.

    With monitoring off this is plain ``sqlite3.connect``, so it costs nothing.
    """
    if _recorder is None:
        return sqlite3.connect(database, **kwargs)
    kwargs.setdefault("factory", InstrumentedConnection)
    return sqlite3.connect(database, **kwargs)
