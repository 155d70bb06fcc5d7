"""Lay a shop's template overrides over the shipped templates, file by file.

An override folder (``TEMPLATES_LOCATION``: an S3 prefix or a folder) has the shape of the
template folder (``shopmail/templates``) and holds only what it changes::

    OrderPlaced.html        replaces the shared OrderPlaced.html (every language)
    de/OrderPlaced.html     replaces it for German only (a language's own file comes first)
    de/strings.json         merged key by key over the shipped de/strings.json (the shop's
                            own texts in its section "custom")
    sv/strings.json         a new language (complete, like every language folder)
    logo.png                an image the shop configuration can name (``logo.source``)

:func:`build_overlay` copies the shipped templates and the overrides into one new folder, which
the renderer uses like the shipped one: the same sandbox and autoescaping, the same validation
of language folders (:mod:`~shopmail.domain.outbound.template_catalog`). Names are checked: at
most one folder level, ``[A-Za-z0-9_.-]`` only, and only ``.html``, ``.txt``, ``strings.json``
or a ``.png``/``.jpg``/``.gif`` image; anything else is left out with a reason
(:attr:`Overlay.problems`), as is a ``strings.json`` that is no JSON object (the shipped texts
stay), a key whose kind (text or section) differs from the shipped one, and a key the shipped
texts do not have outside the section ``custom`` (a typo would otherwise go unnoticed, and a new
key of the default language would make every other language incomplete).

Example
-------
>>> import tempfile
>>> overlay = build_overlay({"de/strings.json": b'{"closing": "Bis bald"}',
...     "../evil.html": b"x"}, Path(tempfile.mkdtemp()) / "t")
>>> overlay.applied, list(overlay.problems)
(('de/strings.json',), ['../evil.html'])
>>> json.loads((overlay.root / "de" / "strings.json").read_text("utf-8"))["closing"]
'Bis bald'
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final

from shopmail.domain.outbound.template_catalog import (
    CUSTOM_SECTION,
    STRINGS_FILE,
    SUFFIXES,
    TEMPLATE_DIR,
)

#: Most files an override folder may hold, and the largest one.
MAX_FILES: Final = 300
MAX_FILE_BYTES: Final = 512 * 1024
IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".gif")
_PART: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True, slots=True)
class Overlay:
    """The merged template folder.

    Attributes
    ----------
    root
        The folder to render from (shipped templates with the overrides applied).
    applied
        The override files used, by relative name.
    problems
        Override files left out (or partly left out) -> why.
    assets
        The images of the override folder, by relative name (for ``logo.source``).
    """

    root: Path
    applied: tuple[str, ...] = ()
    problems: Mapping[str, str] = field(default_factory=dict)
    assets: Mapping[str, bytes] = field(default_factory=dict)


def template_file_problem(name: str) -> str:
    """Why ``name`` (a relative path) cannot be an override file (``""``: it can)."""
    path = PurePosixPath(name)
    parts = path.parts
    if not parts or len(parts) > 2 or any(not _PART.fullmatch(p) for p in parts):
        return "not a template file name (at most one folder, [A-Za-z0-9_.-])"
    suffix = path.suffix.lower()
    if path.name == STRINGS_FILE:
        return "" if len(parts) == 2 else f"{STRINGS_FILE} belongs in a language folder"
    if suffix in SUFFIXES or suffix in IMAGE_SUFFIXES:
        return ""
    return f"not a template ({', '.join(SUFFIXES)}), {STRINGS_FILE} or an image"


def read_folder(folder: Path) -> dict[str, bytes]:
    """The files of a local override folder by relative name (hidden files left out).

    Raises
    ------
    OSError
        The folder cannot be read.
    ValueError
        More than :data:`MAX_FILES` files, or one larger than :data:`MAX_FILE_BYTES`.
    """
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if len(files) >= MAX_FILES:
            raise ValueError(f"{folder}: more than {MAX_FILES} files")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{rel.as_posix()}: larger than {MAX_FILE_BYTES} bytes")
        files[rel.as_posix()] = path.read_bytes()
    return files


def build_overlay(files: Mapping[str, bytes], target: Path, base: Path = TEMPLATE_DIR) -> Overlay:
    """Write ``base`` with ``files`` laid over it into the new folder ``target``.

    Parameters
    ----------
    files
        Override files by relative name (``de/OrderPlaced.html``), as read from S3 or a folder.
    target
        A folder that does not exist yet (created).
    base
        The templates the overrides apply to (default: the shipped ones).

    Returns
    -------
    Overlay
    """
    _copy_templates(base, target)
    applied: list[str] = []
    problems: dict[str, str] = {}
    assets: dict[str, bytes] = {}
    for name in sorted(files):
        data = files[name]
        why = template_file_problem(name)
        if not why and len(data) > MAX_FILE_BYTES:
            why = f"larger than {MAX_FILE_BYTES} bytes"
        if why:
            problems[name] = why
            continue
        path = target / PurePosixPath(name)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            assets[name] = data
            continue
        if path.name == STRINGS_FILE and path.is_file():
            merged, why = _merge_strings(path.read_bytes(), data)
            if merged is None:
                problems[name] = why
                continue
            if why:
                problems[name] = why
            data = merged
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        applied.append(name)
    return Overlay(root=target, applied=tuple(applied), problems=problems, assets=assets)


def _copy_templates(base: Path, target: Path) -> None:
    def ignore(folder: str, names: Iterable[str]) -> set[str]:
        keep = {n for n in names if Path(n).suffix in SUFFIXES or n == STRINGS_FILE}
        keep |= {n for n in names if (Path(folder) / n).is_dir() and not n.startswith(("_", "."))}
        return set(names) - keep

    shutil.copytree(base, target, ignore=ignore)


def _merge_strings(shipped: bytes, override: bytes) -> tuple[bytes | None, str]:
    """The shipped ``strings.json`` with the override's keys; ``(None, why)`` when unusable."""
    try:
        theirs = json.loads(override.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"not JSON ({str(exc)[:120]}): the shipped texts stay"
    if not isinstance(theirs, dict):
        return None, "not a JSON object: the shipped texts stay"
    ours = json.loads(shipped.decode("utf-8"))
    conflicts: list[str] = []
    unknown: list[str] = []
    merged = _merge(ours, theirs, "", conflicts, unknown)
    reasons = []
    if conflicts:
        reasons.append(f"kept the shipped value of {', '.join(conflicts[:10])} (text vs section)")
    if unknown:
        reasons.append(
            f"left out {', '.join(unknown[:10])}: not a shipped key (the shop's own texts go in "
            f"the section {CUSTOM_SECTION!r})"
        )
    return json.dumps(merged, ensure_ascii=False, indent=2).encode("utf-8"), "; ".join(reasons)


def _merge(
    ours: dict[str, Any],
    theirs: Mapping[str, Any],
    prefix: str,
    conflicts: list[str],
    unknown: list[str],
) -> dict[str, Any]:
    out = dict(ours)
    for key, value in theirs.items():
        mine = ours.get(key)
        if f"{prefix}{key}" == CUSTOM_SECTION and isinstance(value, Mapping):
            out[key] = {**(mine if isinstance(mine, dict) else {}), **value}
        elif key not in ours:
            unknown.append(f"{prefix}{key}")
        elif isinstance(mine, dict) != isinstance(value, Mapping):
            conflicts.append(f"{prefix}{key}")
        elif isinstance(mine, dict) and isinstance(value, Mapping):
            out[key] = _merge(mine, value, f"{prefix}{key}.", conflicts, unknown)
        else:
            out[key] = value
    return out
