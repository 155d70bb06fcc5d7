"""The template languages present in a template folder, and whether each one is complete.

Layout of a template folder::

    layout.html / layout.txt        the one shared layout
    macros.html / macros.txt        shared macros
    <Template>.html / .txt          one language-neutral pair per template (detail-type)
    <lang>/strings.json             every sentence, label and subject of one language
    <lang>/<file>                   optional: overrides the shared file of that name for <lang>

A language is a sub-folder named by a locale tag (``de``, ``fr``, ``pt-BR``) holding
``strings.json``; adding one is dropping such a folder next to the others. Nothing lists the
languages anywhere else. Shared files other than ``layout``, ``macros`` and names starting with
``_`` are templates; each needs a subject in the reference language.

A language folder is **valid** when:

* its name is a locale Babel knows (money and dates are formatted with it),
* ``strings.json`` is a JSON object with every key the *reference* language has (nested keys
  such as ``OrderPlaced.intro`` included), each of the same kind (text or object),
* no text uses a ``{placeholder}`` that the reference's text of the same key lacks (it could
  not be filled; a translation may leave a value out, as a greeting without the name does).

The reference is the shop's default language (``de`` unless the caller names another; when that
folder is missing the fallback ``en`` serves). Extra keys are allowed. The section ``custom``
holds a shop's own texts (for its overridden templates) and is not compared: a language may have
keys there that another lacks. Invalid folders are left
out of :attr:`Catalog.languages` and their problems are logged once, as
``template_folder_invalid`` (folder name and reasons only), so a half-translated folder never
serves mail; customers of that language get the next entry of their fallback chain.

Sub-folders whose names are neither locale tags Babel knows nor hold ``strings.json``
(``partials``, ``__pycache__``) are ignored.

Example
-------
>>> catalog = load_catalog()
>>> "de" in catalog.languages and "en" in catalog.languages, catalog.problems
(True, {})
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

from shopmail.domain.outbound.locale_chain import DEFAULT_LOCALE, FALLBACK_LOCALE, normalize_tag

logger = logging.getLogger(__name__)

TEMPLATE_DIR: Final = Path(__file__).resolve().parents[2] / "templates"
STRINGS_FILE: Final = "strings.json"
#: Shared files that are building blocks, not templates (besides names starting with ``_``).
PARTIALS: Final = frozenset({"layout", "macros"})
SUFFIXES: Final = (".html", ".txt")
#: A ``{name}`` placeholder in a sentence of ``strings.json``.
PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Keys holding Jinja expressions rather than ``{placeholder}`` text.
_JINJA_SECTIONS: Final = ("subjects.",)
#: The section of a shop's own texts, which languages need not share.
CUSTOM_SECTION: Final = "custom"


@dataclass(frozen=True, slots=True)
class Catalog:
    """What a template folder offers.

    Attributes
    ----------
    root
        The template folder (shared layout, macros and templates; one sub-folder per language).
    reference
        The language every other folder is checked against (``""`` when there is none).
    languages
        The valid language folders, sorted.
    templates
        Per valid language, the templates it can render (shared or its own override).
    problems
        Per invalid folder, why it is not used (empty when all are valid).
    """

    root: Path
    reference: str
    languages: tuple[str, ...]
    templates: Mapping[str, frozenset[str]] = field(default_factory=dict)
    problems: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def languages_for(self, template: str) -> tuple[str, ...]:
        """The valid languages that have ``template``."""
        return tuple(lang for lang in self.languages if template in self.templates[lang])


def load_catalog(
    root: str | Path | None = None,
    reference: str = DEFAULT_LOCALE,
    fallback: str = FALLBACK_LOCALE,
) -> Catalog:
    """Scan and validate ``root`` (default: the shipped templates), cached per arguments.

    Parameters
    ----------
    root
        The template folder.
    reference
        The language whose keys every folder must have (the shop's default language).
    fallback
        Used as the reference when the ``reference`` folder does not exist.
    """
    folder = Path(root).resolve() if root is not None else TEMPLATE_DIR
    return _load(folder, normalize_tag(reference), normalize_tag(fallback))


@cache
def language_strings(language: str, root: str | Path | None = None) -> Mapping[str, Any]:
    """The ``strings.json`` of one language folder (``{}`` when it cannot be read)."""
    folder = Path(root).resolve() if root is not None else TEMPLATE_DIR
    strings, _errors = _read_strings(folder / language)
    return strings


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` placeholders in ``text``."""
    return frozenset(PLACEHOLDER.findall(text))


@cache
def _load(root: Path, reference: str, fallback: str) -> Catalog:
    folders = _language_folders(root)
    shared = _stems(root)
    names = frozenset(s for s in shared if s not in PARTIALS and not s.startswith("_"))
    ref = _pick_reference(folders, reference, fallback)
    problems: dict[str, tuple[str, ...]] = {}
    ref_keys: dict[str, Any] = {}
    if ref is not None:
        ref_strings, errors = _read_strings(folders[ref])
        ref_keys = _flat(ref_strings)
        errors += [f"no subject for template {n}" for n in sorted(names - _subjects(ref_keys))]
        if errors:
            problems[ref] = tuple(errors)
    templates: dict[str, frozenset[str]] = {}
    for name, path in sorted(folders.items()):
        if name in problems:
            continue
        errors = _check_locale(name)
        strings, read_errors = _read_strings(path)
        errors += read_errors
        if strings and name != ref:
            errors += _compare(_flat(strings), ref_keys)
        if errors:
            problems[name] = tuple(errors)
            continue
        own = _stems(path)
        candidates = names | {s for s in own if s not in PARTIALS and not s.startswith("_")}
        templates[name] = frozenset(
            t
            for t in candidates
            if all(sfx in own.get(t, ()) or sfx in shared.get(t, ()) for sfx in SUFFIXES)
        )
    for name, reasons in problems.items():
        logger.error(
            "template_folder_invalid",
            extra={"language": name, "problems": list(reasons[:20]), "root": root.name},
        )
    return Catalog(
        root=root,
        reference=ref or "",
        languages=tuple(sorted(templates)),
        templates=templates,
        problems=problems,
    )


def _compare(keys: Mapping[str, Any], ref_keys: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    for key, ref_value in ref_keys.items():
        if key.startswith(f"{CUSTOM_SECTION}."):
            continue
        if key not in keys:
            errors.append(_missing(key, keys))
        elif not isinstance(keys[key], str):
            errors.append(f"{STRINGS_FILE}: {key} is not text")
        elif not key.startswith(_JINJA_SECTIONS):
            extra = placeholders(keys[key]) - placeholders(str(ref_value))
            if extra:
                errors.append(f"{STRINGS_FILE}: {key} uses unknown {sorted(extra)}")
    return list(dict.fromkeys(errors))


def _missing(key: str, keys: Mapping[str, Any]) -> str:
    """Why ``key`` is not there: missing, or an object / text where the other is expected."""
    if any(k.startswith(f"{key}.") for k in keys):
        return f"{STRINGS_FILE}: {key} is an object, not text"
    parts = key.split(".")
    for end in range(1, len(parts)):
        prefix = ".".join(parts[:end])
        if prefix in keys:
            return f"{STRINGS_FILE}: {prefix} is text, not an object"
    return f"{STRINGS_FILE} lacks {key}"


def _subjects(keys: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(k.split(".", 1)[1] for k in keys if k.startswith("subjects."))


def _language_folders(root: Path) -> dict[str, Path]:
    """Sub-folders named like a locale (``de``, ``pt-BR``) that Babel knows or that hold strings.

    A folder such as ``partials`` (no locale, no ``strings.json``) is not a language.
    """
    found: dict[str, Path] = {}
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        logger.error("template_folder_unreadable", extra={"reason": str(exc)[:200]})
        return found
    for entry in entries:
        if not entry.is_dir() or not normalize_tag(entry.name):
            continue
        if not _check_locale(entry.name) or (entry / STRINGS_FILE).is_file():
            found[entry.name] = entry
    return found


def _pick_reference(folders: Mapping[str, Path], reference: str, fallback: str) -> str | None:
    by_tag = {normalize_tag(name).lower(): name for name in folders}
    for wanted in (reference, fallback):
        if wanted and wanted.lower() in by_tag:
            return by_tag[wanted.lower()]
    return None


def _check_locale(name: str) -> list[str]:
    from babel import Locale, UnknownLocaleError  # lazy: only a catalog being loaded needs it

    try:
        Locale.parse(normalize_tag(name), sep="-")
    except (ValueError, UnknownLocaleError):
        return [f"{name!r} is not a locale Babel knows"]
    return []


def _read_strings(folder: Path) -> tuple[dict[str, Any], list[str]]:
    path = folder / STRINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, [f"{STRINGS_FILE} missing"]
    except (OSError, ValueError) as exc:
        return {}, [f"{STRINGS_FILE} unreadable: {str(exc)[:120]}"]
    if not isinstance(data, dict):
        return {}, [f"{STRINGS_FILE} is not a JSON object"]
    if not isinstance(data.get("subjects"), dict):
        return data, [f"{STRINGS_FILE} has no 'subjects' object"]
    return data, []


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value, nested objects flattened (``OrderPlaced.intro``)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def _stems(folder: Path) -> dict[str, set[str]]:
    """Template file stems in ``folder`` and which of ``.html``/``.txt`` each has."""
    stems: dict[str, set[str]] = {}
    for path in folder.glob("*.*"):
        if path.suffix in SUFFIXES and path.is_file():
            stems.setdefault(path.stem, set()).add(path.suffix)
    return stems
