"""Accuracy and speed of the feedback classifier on the two expected-result corpora.

``python -m bench classify`` prints the figures; ``tests/unit/test_feedback_corpus.py`` asserts
them against a regression floor. The comparison rules (what counts as "recipient found",
"hard/soft right", "reason right") live here so both use the same definitions.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import Any, Final

from shopmail.domain.feedback import Classification, classify_message, classify_tree

REPO: Final = Path(__file__).resolve().parents[1]
CORPUS: Final = Path(os.environ.get("SHOPMAIL_SHARED", REPO.parent / "shared")) / "corpus"

#: Mail-DeliveryStatus-BounceParser ``std_reason`` -> our reasons that mean the same thing.
#: - user_unknown: the mailbox does not exist; their parser also files closed/suspended
#:   mailboxes here, so ``mailbox_disabled`` is accepted too.
#: - user_disabled: the mailbox exists but is disabled/closed -> ``mailbox_disabled``
#:   (``user_unknown`` accepted as many servers say "unknown" for closed accounts).
#: - domain_error: the domain does not resolve / has no MX -> ``host_unknown``; their parser
#:   also files "relaying denied" / "not in rcpthosts" answers of the recipient's MX here (the
#:   MX does not host the domain), which we report as ``relay_denied``.
#: - over_quota: ``mailbox_full``.
#: - spam: the message or the sending host was refused as spam or by anti-spam policy:
#:   content scoring (``spam_detected``, ``content_rejected``), blocklists / reputation / PTR
#:   (``blocked``), SPF/DKIM/DMARC (``auth_failure``), or an unspecific policy refusal
#:   (``policy``).
#: - message_too_large: ``message_too_large``.
PERL_REASONS: Final[dict[str, frozenset[str]]] = {
    "user_unknown": frozenset({"user_unknown", "mailbox_disabled"}),
    "user_disabled": frozenset({"mailbox_disabled", "user_unknown"}),
    "domain_error": frozenset({"host_unknown", "relay_denied"}),
    "over_quota": frozenset({"mailbox_full"}),
    "spam": frozenset({"spam_detected", "content_rejected", "blocked", "auth_failure", "policy"}),
    "message_too_large": frozenset({"message_too_large"}),
}
#: ``std_reason`` -> expected ``hard`` (address undeliverable). ``unknown`` is not scored.
PERL_HARD: Final[dict[str, bool]] = {
    "user_unknown": True,
    "user_disabled": True,
    "domain_error": True,
    "over_quota": False,
    "spam": False,
    "message_too_large": False,
}


@dataclass
class Metric:
    """A hit/total counter with the misses kept for inspection."""

    hits: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, ok: bool, name: str, detail: str = "") -> None:
        self.total += 1
        if ok:
            self.hits += 1
        else:
            self.misses.append(f"{name}: {detail}" if detail else name)

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 1.0

    def summary(self) -> dict[str, Any]:
        return {"rate": round(self.rate, 4), "hits": self.hits, "total": self.total}


def load(path: Path) -> Message:
    """Parse a file the way the inbound parser does (compat32 tree)."""
    return BytesParser(policy=compat32).parsebytes(path.read_bytes())


Classifier = Callable[[Path], Classification]


def classify_stdlib(path: Path) -> Classification:
    """Parse with the stdlib (compat32) and classify the tree."""
    return classify_tree(load(path))


def parser_classifier() -> Classifier | None:
    """Parse with ``shopmail.domain.inbound.parsing.parse_message`` and classify, when it exists."""
    try:
        from shopmail.domain.inbound.parsing import parse_message
    except ImportError:
        return None

    def classify(path: Path) -> Classification:
        return classify_message(parse_message(path.read_bytes()))

    return classify


def _found(result: Classification) -> dict[str, Any]:
    return {r.address.lower(): r for r in result.recipients}


def evaluate_flufl(
    corpus: Path = CORPUS, classify: Classifier = classify_stdlib
) -> dict[str, Metric]:
    """flufl.bounce: failed addresses and temporary vs permanent."""
    base = corpus / "flufl-bounce"
    expected = json.loads((base / "expected.json").read_text(encoding="utf-8"))["files"]
    metrics = {
        "recipient_found": Metric(),
        "exact_recipients": Metric(),
        "hard_soft": Metric(),
        "is_failure": Metric(),
    }
    for name, exp in sorted(expected.items()):
        detectors = exp.get("detectors")
        if not detectors:
            continue
        result = classify(base / name)
        want = {a.lower() for d in detectors for a in d["addresses"]}
        temporary = any(d["temporary"] for d in detectors if d["addresses"]) if want else False
        got = _found(result)
        if not want:
            continue
        metrics["is_failure"].add(result.kind in ("bounce", "delay"), name, result.kind)
        metrics["recipient_found"].add(
            want <= set(got), name, f"want {sorted(want)} got {sorted(got)} kind={result.kind}"
        )
        metrics["exact_recipients"].add(want == set(got), name, f"extra {sorted(set(got) - want)}")
        matched = [got[a] for a in want if a in got]
        if matched:
            permanent = all(r.action == "failed" for r in matched)
        else:
            permanent = result.kind == "bounce"
        metrics["hard_soft"].add(
            permanent == (not temporary), name, f"temporary={temporary} got permanent={permanent}"
        )
    return metrics


def evaluate_perl(
    corpus: Path = CORPUS, classify: Classifier = classify_stdlib
) -> dict[str, Metric]:
    """Mail-DeliveryStatus-BounceParser: is_bounce, addresses, std_reason, smtp_code."""
    base = corpus / "perl-bounceparser"
    expected = json.loads((base / "expected.json").read_text(encoding="utf-8"))["files"]
    metrics = {
        "recipient_found": Metric(),
        "is_bounce": Metric(),
        "hard_soft": Metric(),
        "reason": Metric(),
        "smtp_code": Metric(),
        "original_message_id": Metric(),
    }
    for name, exp in sorted(expected.items()):
        result = classify(base / name)
        got = _found(result)
        if "is_bounce" in exp:
            ok = (result.kind == "bounce") == exp["is_bounce"]
            metrics["is_bounce"].add(ok, name, f"want {exp['is_bounce']} got {result.kind}")
        want = {a.lower() for a in exp.get("addresses", [])}
        if want:
            metrics["recipient_found"].add(
                want <= set(got), name, f"want {sorted(want)} got {sorted(got)}"
            )
        matched = [got[a] for a in want if a in got]
        first = matched[0] if matched else None
        hard = first.hard if first else result.hard
        reason = first.reason if first else result.reason
        std = exp.get("std_reason")
        if std in PERL_HARD:
            metrics["hard_soft"].add(
                hard is PERL_HARD[std],
                name,
                f"{std} want hard={PERL_HARD[std]} got {hard} ({reason})",
            )
        if std in PERL_REASONS:
            metrics["reason"].add(
                reason in PERL_REASONS[std],
                name,
                f"{std} got {reason}; diag={(first.diagnostic if first else '')!s:.100}",
            )
        if exp.get("smtp_code"):
            codes = {r.smtp_code for r in result.recipients}
            metrics["smtp_code"].add(
                exp["smtp_code"] in codes,
                name,
                f"want {exp['smtp_code']} got {sorted(map(str, codes))}",
            )
        if exp.get("orig_message_id"):
            metrics["original_message_id"].add(
                result.original_message_id == exp["orig_message_id"],
                name,
                f"got {result.original_message_id}",
            )
    return metrics


def speed(corpus: Path = CORPUS) -> dict[str, float]:
    """Messages per second over both corpora (parse + classify)."""
    files = sorted((corpus / "flufl-bounce").rglob("*.txt"))
    files += sorted((corpus / "perl-bounceparser").rglob("*.msg"))
    raws = [p.read_bytes() for p in files]
    start = time.perf_counter()
    for raw in raws:
        classify_tree(BytesParser(policy=compat32).parsebytes(raw))
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    for raw in raws:
        BytesParser(policy=compat32).parsebytes(raw)
    parse_only = time.perf_counter() - start
    return {
        "messages": len(raws),
        "msgs_per_s": round(len(raws) / elapsed, 1) if elapsed else 0.0,
        "parse_only_msgs_per_s": round(len(raws) / parse_only, 1) if parse_only else 0.0,
        "parse_plus_classify_vs_parse_only": round(elapsed / parse_only, 2) if parse_only else 0.0,
    }


def main() -> dict[str, Any]:
    """Accuracy per corpus and metric, plus throughput."""
    if not CORPUS.is_dir():
        return {"skipped": f"corpus not found at {CORPUS}"}
    out: dict[str, Any] = {}
    for label, metrics in (
        ("flufl-bounce", evaluate_flufl()),
        ("perl-bounceparser", evaluate_perl()),
    ):
        out[label] = {k: m.summary() for k, m in metrics.items()}
    via_parser = parser_classifier()
    if via_parser is not None:
        for label, metrics in (
            ("flufl-bounce via parse_message", evaluate_flufl(CORPUS, via_parser)),
            ("perl-bounceparser via parse_message", evaluate_perl(CORPUS, via_parser)),
        ):
            out[label] = {k: m.summary() for k, m in metrics.items()}
    out["speed"] = speed()
    return out


if __name__ == "__main__":
    verbose = "-v" in sys.argv
    chosen = parser_classifier() if "--parser" in sys.argv else None
    classify = chosen or classify_stdlib
    for label, metrics in (
        ("flufl", evaluate_flufl(CORPUS, classify)),
        ("perl", evaluate_perl(CORPUS, classify)),
    ):
        for key, metric in metrics.items():
            print(label, key, metric.summary())
            if verbose:
                for miss in metric.misses:
                    print("   ", miss)
