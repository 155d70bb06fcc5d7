"""Corpus walk: every message of ../shared/corpus gets a routing decision through the code path
of ``shopmail route`` (in-process, routes loaded once).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from shopmail.domain.inbound.parsing import parse_message
from shopmail.domain.inbound.routing import ACTION_NAMES, Router, load_routes
from shopmail.domain.message import Verdicts
from shopmail.errors import InvalidMessageError

from shopmail_local.cli.commands.route import Parse, build_router, default_parse, route_file

# Data next to the messages (expected results, licences, decoded parts): not messages.
_SKIP_SUFFIXES = {
    ".json", ".xml", ".out", ".list", ".gitattributes", ".png", ".jpg", ".doc", ".rtf",
    ".html", ".htm", ".tnef", ".dat", ".bin", ".mp3", ".pdf",
}  # fmt: skip
_SKIP_NAMES = {
    "SOURCE.txt", "LICENSE", "NOTICE", "README", "README.md", "README.txt", "MIT-LICENSE",
    "ARTISTIC-LICENSE.txt",
}  # fmt: skip
_EXCEPTION_NAME = re.compile(r"^[A-Z][A-Za-z]+(Error|Exception): ")


def corpus_messages(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name in _SKIP_NAMES or path.name.startswith("."):
            continue
        if path.suffix.lower() in _SKIP_SUFFIXES or "expected" in path.parts:
            continue
        if "_decoded" in path.name or "/tnef/" in path.as_posix():
            continue
        files.append(path)
    return files


@pytest.fixture(scope="module")
def files(corpus_dir: Path) -> list[Path]:
    found = corpus_messages(corpus_dir)
    assert len(found) > 800
    return found


Routing = tuple[Router, Parse]


@pytest.fixture
def shipped(monkeypatch: pytest.MonkeyPatch) -> Routing:
    """The router of the shipped routes (``ROUTES_FILE`` unset) and the CLI's parser."""
    monkeypatch.delenv("ROUTES_FILE", raising=False)
    router, _ = build_router(None, "shop.example")
    return router, default_parse()


def test_every_corpus_message_gets_a_decision(files: list[Path], shipped: Routing) -> None:
    router, parse = shipped
    rule_names = {r.name for r in load_routes(None).rules}
    counts: Counter[str] = Counter()
    routes: Counter[str] = Counter()
    for path in files:
        rows = route_file(path, router, parse)
        assert rows, path
        if "error" in rows[0]:
            assert len(rows) == 1 and set(rows[0]) == {"file", "error"}, path
            assert not _EXCEPTION_NAME.match(rows[0]["error"]), (path, rows[0]["error"])
            # only input the parser refuses as "not a message" may fail
            with pytest.raises(InvalidMessageError):
                parse_message(path.read_bytes())
            counts["refused"] += 1
            continue
        counts["messages"] += 1
        for row in rows:
            json.dumps(row)
            routes[row["route"]] += 1
            assert row["route"] in rule_names, (path, row["route"])
            assert row["actions"] and set(row["actions"]) <= set(ACTION_NAMES)
            if "publish" in row["actions"]:
                assert row["detail_type"], path
            assert isinstance(row["why"], list) and row["why"]
            assert isinstance(row["order_numbers"], list)
            assert isinstance(row["captures"], dict)
    print(f"\nroute corpus walk: {dict(counts)}; routes {dict(routes)}")
    assert counts["messages"] > 800
    assert routes["reports"] > 100  # the corpus is rich in DSNs and ARF reports


def test_corpus_sample_for_a_support_recipient_with_verdicts(
    files: list[Path], shipped: Routing
) -> None:
    router, parse = shipped
    seen: Counter[str] = Counter()
    for path in files[::10]:
        for verdicts, expect in ((Verdicts(), None), (Verdicts(virus="FAIL"), "policy:virus")):
            rows = route_file(path, router, parse, ["support+ORD-1001@shop.example"], verdicts)
            if "error" in rows[0]:
                continue
            (row,) = rows
            assert row["recipient"] == "support+ORD-1001@shop.example"
            if expect:
                assert (row["route"], row["actions"]) == (expect, ["quarantine"])
            else:
                assert row["route"] in {"support", "reports", "customer-reply"}
                if row["route"] == "support":
                    assert row["tag"] == "ORD-1001" and "ORD-1001" in row["order_numbers"]
                    # an auto-reply is there exactly when the loop guard allowed it
                    assert row["auto_reply"] is not None
                    assert ("auto_reply" in row["actions"]) is row["auto_reply"]["allowed"]
            seen[row["route"]] += 1
    assert seen["support"] > 20 and seen["policy:virus"] > 20
