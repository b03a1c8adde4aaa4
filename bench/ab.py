#!/usr/bin/env python3
"""A/B of two pgcert builds on one job: which change made it faster, and by how much.

Runs the job with binary A, then B, alternately (the order swapped every round), each run a
whole process in a fresh directory, and prints each binary's median and the median of the
paired ratios B/A. Timing as in bench/run.py (posix_spawn + wait4).

usage: python3 bench/ab.py A B [--job quickstart|quickstart-nosync|issue] [--runs N] [--dir DIR]

  quickstart         pgcert quickstart --out NEW (durable), ECDSA P-256
  quickstart-nosync  the same with --no-sync
  issue              pgcert issue server into a CA each binary made with init-ca first

To compare a change with its parent:
  git stash; cargo build --release; cp target/release/pgcert /tmp/pgcert-a
  git stash pop; cargo build --release
  python3 bench/ab.py /tmp/pgcert-a target/release/pgcert --job issue --dir /mnt/ext4
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ERR_FILE, describe_fs, run_once  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--job", default="quickstart", choices=["quickstart", "quickstart-nosync", "issue"])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--dir", default="")
    args = ap.parse_args()
    bins = {"A": os.path.abspath(args.a), "B": os.path.abspath(args.b)}
    base = tempfile.mkdtemp(prefix="pgcert-ab-", dir=args.dir or None)
    print(f"runs write in {base}: {describe_fs(base)}")
    if args.job == "issue":
        for tag, b in bins.items():
            subprocess.run([b, "-q", "init-ca", "--ca", os.path.join(base, f"ca-{tag}")], check=True)

    def argv(tag, i):
        b = bins[tag]
        out = os.path.join(base, f"{tag}-{i}")
        if args.job == "issue":
            return [b, "-q", "--ca", os.path.join(base, f"ca-{tag}"), "issue", "server", "--cn",
                    f"h{i}.example", "--out", out]
        flags = ["--no-sync"] if args.job == "quickstart-nosync" else []
        return [b, "-q"] + flags + ["quickstart", "--out", out, "--user", "postgres"]

    walls = {"A": [], "B": []}
    try:
        for i in range(args.runs + 2):
            for tag in ("A", "B") if i % 2 == 0 else ("B", "A"):
                w = run_once(argv(tag, i), base)
                if i >= 2:
                    walls[tag].append(w * 1e3)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if os.path.exists(ERR_FILE):
            os.unlink(ERR_FILE)
    for tag in ("A", "B"):
        print(f"{tag}: {bins[tag]}  median {statistics.median(walls[tag]):.2f} ms "
              f"(min {min(walls[tag]):.2f})")
    ratios = [b / a for a, b in zip(walls["A"], walls["B"])]
    print(f"B/A paired median: {statistics.median(ratios):.3f}  ({args.job}, n={args.runs})")


if __name__ == "__main__":
    main()
