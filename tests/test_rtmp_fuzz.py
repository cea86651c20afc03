"""Each RTMP fuzz target under deterministic mutations of its seed corpus for a bounded time.

Seeds live in tests/fuzz/corpus/<target>/ (regenerate: `python -m tests.fuzz.capture_rtmp_corpus`).
Mutation i uses random.Random(i), so a failure names the iteration that replays it:
`replay("chunk", 1234)`. Only the core's RemoteProtocolError may come out of a target, and the
targets check their own invariants (buffer bounds, round trips) with asserts.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.fuzz.rtmp_targets import TARGETS, load_corpus, mutate

BUDGET_SECONDS = 2.0
MAX_ITERATIONS = 20_000


def mutated(target: str, iteration: int, seeds: list[bytes]) -> bytes:
    rng = random.Random(iteration)
    return mutate(rng, rng.choice(seeds), seeds)


def replay(target: str, iteration: int) -> None:
    """Re-run one failing mutation under a debugger."""
    TARGETS[target](mutated(target, iteration, load_corpus(target)))


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_seeds_pass(target: str) -> None:
    seeds = load_corpus(target)
    assert len(seeds) >= 3, f"seed corpus for {target} is missing"
    for seed in seeds:
        TARGETS[target](seed)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_mutations_raise_only_protocol_errors(target: str) -> None:
    seeds = load_corpus(target)
    run = TARGETS[target]
    deadline = time.monotonic() + BUDGET_SECONDS
    iteration = 0
    while iteration < MAX_ITERATIONS and time.monotonic() < deadline:
        data = mutated(target, iteration, seeds)
        try:
            run(data)
        except Exception as exc:
            raise AssertionError(
                f"{target} failed on mutation {iteration} ({len(data)} bytes): "
                f"{type(exc).__name__}: {exc}; replay with replay({target!r}, {iteration})"
            ) from exc
        iteration += 1
    assert iteration > 50, f"only {iteration} mutations ran in {BUDGET_SECONDS} s"
