"""Command-line flags of the Python target servers (grpcio, grpclib), shared.

    server.py PORT [--defect NAME] [--test-only] [--max-concurrent-streams N] [--pool N]

Without flags a server is the adapter's faithful default. The flags select the
defect fixtures and limited configurations of targets/fixtures.toml (see
targets/README.md, "Defect fixtures"). Each adapter says which defects and
options it supports; anything else (an unknown flag, a defect the adapter does
not have, a missing or bad value) prints the usage on stderr and exits 2.
"""

import sys
from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True)
class Flags:
    port: int
    defect: Optional[str] = None  # None: faithful
    test_only: bool = False  # do not register ProbeService
    max_concurrent_streams: Optional[int] = None  # None: the implementation's default
    pool: Optional[int] = None  # None: the adapter's default pool size


def usage(prog: str, defects: Sequence[str], max_concurrent_streams: bool, pool: bool) -> str:
    parts = [f"usage: {prog} PORT", f"[--defect {'|'.join(defects)}]", "[--test-only]"]
    if max_concurrent_streams:
        parts.append("[--max-concurrent-streams N]")
    if pool:
        parts.append("[--pool N]")
    return " ".join(parts)


def parse(argv: Sequence[str], *, prog: str, defects: Sequence[str],
          max_concurrent_streams: bool = True, pool: bool = False) -> Flags:
    """Parses argv (without the program name); exits 2 with the usage on error."""
    text = usage(prog, defects, max_concurrent_streams, pool)

    def bad(why: str):
        print(f"{prog}: {why}\n{text}", file=sys.stderr)
        sys.exit(2)

    def positive(flag: str, value: str) -> int:
        try:
            number = int(value, 10)
        except ValueError:
            number = 0
        if number < 1 or number > 2**31 - 1:
            bad(f"{flag} needs a positive integer, got {value!r}")
        return number

    if not argv:
        bad("missing PORT")
    try:
        port = int(argv[0], 10)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        bad(f"bad PORT {argv[0]!r}")

    with_value = {"--defect"}
    if max_concurrent_streams:
        with_value.add("--max-concurrent-streams")
    if pool:
        with_value.add("--pool")
    seen = {}
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name in with_value:
            if not eq:
                if not rest:
                    bad(f"{name} needs a value")
                value = rest.pop(0)
        elif name == "--test-only" and not eq:
            value = ""
        else:
            bad(f"unknown argument {arg!r}")
        if name in seen:
            bad(f"{name} given twice")
        seen[name] = value

    defect = seen.get("--defect")
    if defect is not None and defect not in defects:
        bad(f"unknown defect {defect!r} (this adapter has: {', '.join(defects)})")
    return Flags(
        port=port,
        defect=defect,
        test_only="--test-only" in seen,
        max_concurrent_streams=(positive("--max-concurrent-streams", seen["--max-concurrent-streams"])
                                if "--max-concurrent-streams" in seen else None),
        pool=positive("--pool", seen["--pool"]) if "--pool" in seen else None,
    )


def describe(flags: Flags) -> str:
    """The variant in a few words, for logs and ProbeService.Info ("" when
    the server is the faithful default)."""
    parts = []
    if flags.defect:
        parts.append(f"DEFECT {flags.defect}")
    if flags.test_only:
        parts.append("TestService only")
    if flags.max_concurrent_streams is not None:
        parts.append(f"max_concurrent_streams {flags.max_concurrent_streams}")
    if flags.pool is not None:
        parts.append(f"pool {flags.pool}")
    return ", ".join(parts)
