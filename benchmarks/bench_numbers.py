"""Recipient validation at intake, beside a reference floor measured in the same run.

    .venv/bin/python benchmarks/bench_numbers.py

Checking 1,000,000 recipients (protocol/sms.check_recipients: one regex pass over
the joined list) against the floor of splitting the same ``to`` string into
stripped numbers, which intake does anyway.  Target: the check costs less than
the split.  Also: the walk that names a bad number (one bad at the end).
"""

from __future__ import annotations

import statistics
import time

from ejoin.protocol.sms import TaskRejected, _recipients, check_recipients

N = 1_000_000


def best(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    numbers = [f"+86138{i:08d}" for i in range(N)]
    to = ",".join(numbers)
    split_best, split_med = best(lambda: _recipients(to))
    check_best, check_med = best(lambda: check_recipients(numbers))
    bad = [*numbers[:-1], "１２３"]

    def named() -> None:
        try:
            check_recipients(bad)
        except TaskRejected:
            return
        raise AssertionError("not refused")

    walk_best, walk_med = best(named, runs=2)
    print(f"{N:,} recipients")
    print(f"  floor: split 'to' into numbers   {split_best * 1000:8.1f} ms (median {split_med * 1000:.1f})")
    print(f"  check, all good (one regex pass) {check_best * 1000:8.1f} ms (median {check_med * 1000:.1f})")
    print(f"  check, last one bad (walk)       {walk_best * 1000:8.1f} ms (median {walk_med * 1000:.1f})")


if __name__ == "__main__":
    main()
