"""Locate data folders that ship with StarPunk: templates and migrations."""

from __future__ import annotations

from pathlib import Path

from starpunk.errors import StarPunkError

_PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCE_NAMES = ("templates", "migrations")


def resource_dir(name: str) -> Path:
    """Return the folder holding ``name`` ("templates" or "migrations").

    An installed wheel carries them in ``starpunk/_resources/``; a source tree
    (including an editable install) keeps them at the repository root.
    """
    if name not in RESOURCE_NAMES:
        raise StarPunkError(
            f"Unknown resource {name!r}; expected one of {', '.join(RESOURCE_NAMES)}."
        )
    for candidate in (_PACKAGE_DIR / "_resources" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise StarPunkError(
        f"Cannot find the {name!r} folder next to {_PACKAGE_DIR}; "
        "reinstall StarPunk or run it from its source tree."
    )
