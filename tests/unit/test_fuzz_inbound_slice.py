"""A short seeded slice of the inbound fuzzer (``bench/fuzz_inbound.py``; ``make fuzz`` runs
100,000 cases): every stage of the inbound pipeline over mutated corpus mail, no crash.

A failure names each crash signature with its reproducer
(``python -m bench.fuzz_inbound --seed S --case I`` shows the traceback).
"""

from __future__ import annotations

import random

import pytest

from bench import fuzz_inbound as fuzz

SLICE = 300
SEED = 20261202


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    return fuzz.load_seeds()


def test_a_seeded_slice_of_the_fuzzer_finds_no_crash(seeds: list[bytes]) -> None:
    report = fuzz.fuzz(SEED, range(SLICE), seeds)
    assert report.cases == SLICE
    assert report.crashes == 0, report.signatures
    # the slice drove the whole pipeline, not only the parser
    assert report.outcomes["published"] > SLICE
    assert report.outcomes["sent"] > SLICE // 2
    assert len(report.mutations) >= 8


def test_cases_are_reproducible_from_seed_and_number(seeds: list[bytes]) -> None:
    assert fuzz.case_input(seeds, 7, 42) == fuzz.case_input(seeds, 7, 42)
    assert fuzz.case_input(seeds, 7, 42) != fuzz.case_input(seeds, 7, 43)


def test_a_crash_is_counted_with_its_signature_and_reproducer(
    seeds: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = fuzz.Pipeline()

    def crash(raw: bytes, number: int) -> None:
        if number % 2:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(pipeline, "run", crash)
    report = fuzz.fuzz(3, range(6), seeds, pipeline)
    assert report.crashes == 3
    ((signature, info),) = report.signatures.items()
    assert signature.startswith("UnicodeEncodeError at ")
    assert info["count"] == 3 and info["reproduce"] == "--seed 3 --case 1"


@pytest.mark.parametrize(
    "head",
    [
        b"From: a@b.example\r\nTo: c@d.example\r\nBcc: v@x.example\r\n",
        b"From: a@b.example\r\nTo: c@d.example\r\nTo: v@x.example\r\n",
        b"From: a@b.example\r\nTo: c@d.example\r\nSubject: \xc3\xa4\r\n",
        b"From: a@b.example\r\nTo: c@d.example\nX: y\r\n",
    ],
)
def test_an_unsafe_built_header_block_counts_as_a_crash(head: bytes) -> None:
    with pytest.raises(AssertionError):
        fuzz.check_built(head + b"\r\nbody\r\n")
    fuzz.check_built(b"From: a@b.example\r\nTo: c@d.example\r\n\r\nbody\r\n")


def test_every_mutation_returns_bytes() -> None:
    rng = random.Random(1)
    for mutator in fuzz.MUTATORS:
        for raw in (b"", b"Subject: x\r\n\r\nbody", *fuzz._BUILTIN_SEEDS):
            assert isinstance(mutator(rng, raw), bytes)
