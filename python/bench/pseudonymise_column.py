"""How fast `kruispunt` pseudonymises a column of 1 M kentekens from Python, beside what the
Rust SDK does with the same values (`cargo bench -p kruispunt-sdk --bench pseudonymise --
column_1m`, which generates the very same plates: same xorshift, sidecodes and writing styles).

    python python/bench/pseudonymise_column.py [N]

Prints values per second, best of five runs, for: the column call on one thread, the column
call on every core, and a Python loop of single calls (what a column call saves). Measure
with a release build (`pip install ./python`); `maturin develop` without `--release` builds a
debug extension. Figures: docs/PYTHON.md, "Speed".
"""

from __future__ import annotations

import os
import sys
import time

import kruispunt

SIDECODES = [
    "XX-99-99", "99-99-XX", "99-XX-99", "XX-99-XX", "XX-XX-99", "99-XX-XX", "99-XXX-9",
    "9-XXX-99", "XX-999-X", "X-999-XX", "XXX-99-X", "X-99-XXX", "9-XX-999", "999-XX-9",
]
LETTERS = "BDFGHJKLMNPRSTVXZ"
MASK = (1 << 64) - 1


def plates(n: int) -> list[str]:
    """The plates of sdk/benches/pseudonymise.rs (`plates(n)`), value for value."""
    state = 0x9E3779B97F4A7C15
    out = []
    for i in range(n):
        chars = []
        for p in SIDECODES[i % len(SIDECODES)]:
            if p == "-":
                chars.append("-")
                continue
            state ^= (state << 13) & MASK
            state ^= state >> 7
            state ^= (state << 17) & MASK
            if p == "X":
                chars.append(LETTERS[state % len(LETTERS)])
            else:
                chars.append(chr(ord("0") + state % 10))
        plate = "".join(chars)
        style = i % 4
        if style == 1:
            plate = plate.replace("-", "")
        elif style == 2:
            plate = plate.lower()
        elif style == 3:
            plate = plate.replace("-", " ")
        out.append(plate)
    return out


def best(f, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    column = plates(n)
    key = kruispunt.CoalitionKey(bytes(range(32)).hex(), 1)
    p = key.pseudonymiser("kenteken")
    assert p.pseudonymise_column(column[:1000], threads=1) == [p.pseudonymise(v) for v in column[:1000]]
    print(f"{n} kentekens, CPython {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    one = best(lambda: p.pseudonymise_column(column, threads=1))
    print(f"pseudonymise_column, 1 thread:    {n / one / 1e6:6.2f} M values/s ({one:.3f} s)")
    every = best(lambda: p.pseudonymise_column(column))
    print(f"pseudonymise_column, every core:  {n / every / 1e6:6.2f} M values/s ({every:.3f} s)")
    loop = best(lambda: [p.pseudonymise(v) for v in column], runs=2)
    print(f"Python loop of pseudonymise():    {n / loop / 1e6:6.2f} M values/s ({loop:.3f} s)")


if __name__ == "__main__":
    main()
