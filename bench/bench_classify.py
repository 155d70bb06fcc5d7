"""Accuracy and speed of the feedback classifier on the three expected-result corpora.

``python -m bench classify`` prints the figures; ``tests/unit/test_feedback_corpus.py`` asserts
them against a regression floor. The comparison rules (what counts as "recipient found",
"hard/soft right", "reason right", "suppression decision right") live here so both use the
same definitions.

``sisimai-dev`` is split by a stable hash of the file name into a ``dev`` half and a ``check``
half; a large gap between the halves means the rules fit the samples rather than the
principles (the collection the project is judged on is another half of the same set).
``python bench/bench_classify.py --sisimai -v`` lists the misses of the dev half, ``-vv`` of
both halves (addresses masked).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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
#: Their ``domain_error`` includes "relaying denied" answers, which are never hard here (the
#: refusal may be our relay's or a misconfigured MX): those count as misses, on purpose.
PERL_HARD: Final[dict[str, bool]] = {
    "user_unknown": True,
    "user_disabled": True,
    "domain_error": True,
    "over_quota": False,
    "spam": False,
    "message_too_large": False,
}

#: Sisimai reasons whose first recipient must be ``hard`` (the address is undeliverable).
SISIMAI_HARD: Final = frozenset({"userunknown", "hostunknown", "hasmoved"})
#: Sisimai reasons that say nothing bad about the address: ``hard`` must be false. Their share
#: marked hard is the false suppression rate.
SISIMAI_NOT_HARD: Final = frozenset(
    {
        "blocked",
        "spamdetected",
        "toomanyconn",
        "speeding",
        "networkerror",
        "expired",
        "mailboxfull",
        "systemerror",
        "systemfull",
        "mesgtoobig",
        "exceedlimit",
        "contenterror",
        "policyviolation",
        "rejected",
        "securityerror",
        "authfailure",
        "norelaying",
        "badreputation",
        "requireptr",
        "failedstarttls",
        "virusdetected",
    }
)
#: Sisimai reason -> the coarse reasons (``REASONS``) that mean the same thing.
SISIMAI_REASONS: Final[dict[str, frozenset[str]]] = {
    "userunknown": frozenset({"user_unknown"}),
    "hasmoved": frozenset({"user_unknown"}),
    "hostunknown": frozenset({"host_unknown"}),
    "notaccept": frozenset({"host_unknown", "policy", "blocked"}),
    "suspend": frozenset({"mailbox_disabled", "user_unknown"}),
    "mailboxfull": frozenset({"mailbox_full"}),
    "mesgtoobig": frozenset({"message_too_large"}),
    "exceedlimit": frozenset({"message_too_large"}),
    "contenterror": frozenset({"content_rejected"}),
    "notcompliantrfc": frozenset({"content_rejected"}),
    "spamdetected": frozenset({"spam_detected", "content_rejected"}),
    "virusdetected": frozenset({"virus_detected"}),
    "blocked": frozenset({"blocked"}),
    "requireptr": frozenset({"blocked"}),
    "badreputation": frozenset({"blocked"}),
    "authfailure": frozenset({"auth_failure"}),
    "policyviolation": frozenset({"policy"}),
    "failedstarttls": frozenset({"policy"}),
    "rejected": frozenset({"policy", "blocked"}),
    "securityerror": frozenset({"policy", "auth_failure"}),
    "filtered": frozenset({"policy", "user_unknown", "content_rejected"}),
    "norelaying": frozenset({"relay_denied"}),
    "toomanyconn": frozenset({"rate_limited"}),
    "speeding": frozenset({"rate_limited"}),
    "expired": frozenset({"expired"}),
    "networkerror": frozenset({"network", "host_unknown"}),
    "systemerror": frozenset({"system"}),
    "mailererror": frozenset({"system"}),
    "systemfull": frozenset({"system", "mailbox_full"}),
    "syntaxerror": frozenset({"syntax"}),
}
#: Sisimai ``kind`` -> our kinds.
SISIMAI_KINDS: Final[dict[str, frozenset[str]]] = {
    "bounce": frozenset({"bounce", "delay"}),
    "arf-feedback": frozenset({"complaint"}),
    "auto-reply": frozenset({"auto_reply"}),
    "delivery-success-dsn": frozenset({"delivery_report"}),
}
HALVES: Final = ("dev", "check")


_ADDRESS: Final = re.compile(r"[^\s<>\"'(),;:\[\]]+@([^\s<>\"'(),;:\[\]]+)")


def _mask(text: str) -> str:
    """``user@example.org`` -> ``…@example.org`` (miss reports never show addresses)."""
    return _ADDRESS.sub(lambda m: f"\u2026@{m.group(1)}", text)


def sisimai_half(name: str) -> str:
    """``dev`` or ``check``: a stable split of sisimai-dev by a hash of the file name."""
    digest = hashlib.sha256(Path(name).name.encode("utf-8")).digest()
    return "dev" if digest[0] % 2 == 0 else "check"


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


class Share(Metric):
    """A share of flagged cases (``hits`` are the flagged ones; ``misses`` lists them too)."""

    def add(self, ok: bool, name: str, detail: str = "") -> None:
        """Count a case; ``ok`` means flagged (e.g. wrongly suppressed)."""
        self.total += 1
        if ok:
            self.hits += 1
            self.misses.append(f"{name}: {detail}" if detail else name)


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


def evaluate_sisimai(
    corpus: Path = CORPUS, classify: Classifier = classify_stdlib, half: str | None = None
) -> dict[str, Metric]:
    """sisimai-dev: kind, suppression decision, false suppressions and reason.

    Only the first expected recipient of each bounce is scored, against the first recipient
    the classifier reports. ``false_suppression`` (a :class:`Share`) counts, among bounces
    whose Sisimai reason says nothing bad about the address, those marked ``hard``: its
    ``rate`` is the share wrongly marked and its ``misses`` list them.

    Parameters
    ----------
    half:
        ``dev``, ``check`` or ``None`` (both halves).
    """
    base = corpus / "sisimai-dev"
    expected = json.loads((base / "expected.json").read_text(encoding="utf-8"))["files"]
    metrics = {
        "kind": Metric(),
        "decision": Metric(),
        "false_suppression": Share(),
        "reason": Metric(),
    }
    for name, exp in sorted(expected.items()):
        if half is not None and sisimai_half(name) != half:
            continue
        result = classify(base / name)
        if exp["kind"] in SISIMAI_KINDS:
            metrics["kind"].add(
                result.kind in SISIMAI_KINDS[exp["kind"]], name, f"{exp['kind']} got {result.kind}"
            )
        if exp["kind"] != "bounce" or not exp["expected"]:
            continue
        first = exp["expected"][0]
        reason = first["reason"]
        got = result.recipients[0] if result.recipients else None
        hard = bool(got is not None and got.hard is True)
        detail = (
            f"{reason} {first['status']} got {got.status} {got.reason} hard={got.hard} "
            f"stage={got.stage} diag={_mask(got.diagnostic or '')[:160]!r}"
            if got is not None
            else f"{reason} {first['status']} got no recipient (kind {result.kind})"
        )
        if reason in SISIMAI_HARD or reason in SISIMAI_NOT_HARD:
            metrics["decision"].add(hard == (reason in SISIMAI_HARD), name, detail)
        if reason in SISIMAI_NOT_HARD:
            metrics["false_suppression"].add(hard, name, detail)
        if reason in SISIMAI_REASONS:
            ok = got is not None and got.reason in SISIMAI_REASONS[reason]
            metrics["reason"].add(ok, name, detail)
    return metrics


def _speed_files(corpus: Path) -> list[Path]:
    files = sorted((corpus / "sisimai-dev").rglob("*.eml"))
    files += sorted((corpus / "flufl-bounce").rglob("*.txt"))
    files += sorted((corpus / "perl-bounceparser").rglob("*.msg"))
    return files


def _per_second(count: int, elapsed: float) -> float:
    return round(count / elapsed, 1) if elapsed else 0.0


def speed(corpus: Path = CORPUS, rounds: int = 3) -> dict[str, float]:
    """Messages per second over the three corpora (best of ``rounds``).

    ``classify_only`` classifies already parsed :class:`InboundMessage` objects (the router's
    situation); ``parse_plus_classify`` is ``parse_message`` then ``classify_message``. The
    baseline measured in the same process is the standard library's compat32 parse alone.
    """
    from shopmail.domain.inbound.parsing import parse_message

    raws = [p.read_bytes() for p in _speed_files(corpus)]
    best: dict[str, float] = {}

    def timed(label: str, run: Callable[[], object]) -> None:
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        best[label] = min(best.get(label, elapsed), elapsed)

    for _ in range(rounds):
        timed("stdlib", lambda: [BytesParser(policy=compat32).parsebytes(r) for r in raws])
        timed("parse", lambda: [parse_message(r) for r in raws])
        timed("both", lambda: [classify_message(parse_message(r)) for r in raws])
    # the parsed messages are kept for the classify-only figure, and only then: hundreds of
    # parsed trees held in memory make every garbage collection of the other runs slower
    messages = [parse_message(r) for r in raws]
    for _ in range(rounds):
        timed("classify", lambda: [classify_message(m) for m in messages])
    messages.clear()
    count = len(raws)
    return {
        "messages": count,
        "stdlib_parse_msgs_per_s": _per_second(count, best["stdlib"]),
        "parse_message_msgs_per_s": _per_second(count, best["parse"]),
        "classify_only_msgs_per_s": _per_second(count, best["classify"]),
        "parse_plus_classify_msgs_per_s": _per_second(count, best["both"]),
        "classify_only_vs_stdlib_parse": round(best["classify"] / best["stdlib"], 2),
        "parse_plus_classify_vs_stdlib_parse": round(best["both"] / best["stdlib"], 2),
    }


def main() -> dict[str, Any]:
    """Accuracy per corpus and metric, plus throughput."""
    if not CORPUS.is_dir():
        return {"skipped": f"corpus not found at {CORPUS}"}
    out: dict[str, Any] = {}
    via_parser = parser_classifier()
    runs: list[tuple[str, dict[str, Metric]]] = [
        ("flufl-bounce", evaluate_flufl()),
        ("perl-bounceparser", evaluate_perl()),
    ]
    if via_parser is not None:
        runs += [
            ("flufl-bounce via parse_message", evaluate_flufl(CORPUS, via_parser)),
            ("perl-bounceparser via parse_message", evaluate_perl(CORPUS, via_parser)),
        ]
    sisimai = via_parser or classify_stdlib
    runs += [
        (f"sisimai-dev {half or 'all'}", evaluate_sisimai(CORPUS, sisimai, half))
        for half in (None, *HALVES)
    ]
    for label, metrics in runs:
        out[label] = {k: m.summary() for k, m in metrics.items()}
    out["speed"] = speed()
    return out


if __name__ == "__main__":
    verbose = "-v" in sys.argv or "-vv" in sys.argv
    listed = HALVES if "-vv" in sys.argv else ("dev",)
    chosen = parser_classifier() if "--parser" in sys.argv else None
    classify = chosen or classify_stdlib
    if "--sisimai" in sys.argv:
        for half in HALVES:
            for key, metric in evaluate_sisimai(CORPUS, classify, half).items():
                print("sisimai", half, key, metric.summary())
                if verbose and half in listed:
                    for miss in metric.misses:
                        print("   ", miss)
        raise SystemExit(0)
    for label, metrics in (
        ("flufl", evaluate_flufl(CORPUS, classify)),
        ("perl", evaluate_perl(CORPUS, classify)),
    ):
        for key, metric in metrics.items():
            print(label, key, metric.summary())
            if verbose:
                for miss in metric.misses:
                    print("   ", miss)
