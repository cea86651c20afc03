"""Long-running fuzzer for the RTMP core: `python bench/fuzz_rtmp.py [target ...] --seconds 600`.

Targets: handshake, chunk, amf0, connection (default: all, time split evenly). Without atheris
it runs the suite's deterministic mutator from --seed on, growing the corpus in memory with
mutations that reach new (target, exception message) outcomes. With `--atheris` (and atheris
installed) it hands one target to libFuzzer instead, seeded from the committed corpus. A failing
input is written to --crashes and the run stops with its replay command.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzz.rtmp_targets import CORPUS, TARGETS, load_corpus, mutate


def fuzz_target(name: str, seconds: float, seed: int, crashes: Path) -> bool:
    run = TARGETS[name]
    corpus = load_corpus(name)
    seen: set[str] = set()
    deadline = time.monotonic() + seconds
    iteration = seed
    count = 0
    while time.monotonic() < deadline:
        rng = random.Random(iteration)
        data = mutate(rng, rng.choice(corpus), corpus)
        try:
            run(data)
        except Exception as exc:
            crashes.mkdir(parents=True, exist_ok=True)
            path = crashes / f"{name}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
            path.write_bytes(data)
            print(f"{name}: {type(exc).__name__}: {exc}")
            print(f"  input saved to {path}; replay: python bench/fuzz_rtmp.py --replay {path}")
            return False
        # Keep mutations whose tail differs from what we have seen: a cheap stand-in for
        # coverage feedback that lets multi-step mutations build on each other.
        key = hashlib.sha1(data[-8:]).hexdigest()[:6]
        if key not in seen and len(corpus) < 5000 and len(data) < 1 << 16:
            seen.add(key)
            if rng.random() < 0.05:
                corpus.append(data)
        iteration += 1
        count += 1
    print(f"{name}: {count} inputs in {seconds:.0f} s, no failure (corpus grew to {len(corpus)})")
    return True


def run_atheris(name: str) -> None:
    import atheris  # type: ignore[import-not-found]

    target = TARGETS[name]
    atheris.instrument_all()
    atheris.Setup([sys.argv[0], str(CORPUS / name)], target)
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"any of {', '.join(sorted(TARGETS))}")
    parser.add_argument("--seconds", type=float, default=600.0, help="total time budget")
    parser.add_argument("--seed", type=int, default=0, help="first mutation seed")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--atheris", action="store_true", help="use libFuzzer via atheris")
    parser.add_argument("--replay", type=Path, help="run one saved input through its target")
    args = parser.parse_args()

    if args.replay:
        name = args.replay.name.split("-")[0]
        TARGETS[name](args.replay.read_bytes())
        print("no failure")
        return 0
    targets = args.targets or sorted(TARGETS)
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if args.atheris:
        run_atheris(targets[0])
        return 0
    share = args.seconds / len(targets)
    ok = all([fuzz_target(t, share, args.seed, args.crashes) for t in targets])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
