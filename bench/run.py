#!/usr/bin/env python3
"""Side-by-side benchmarks of pgcert against what a user would otherwise run.

Every case runs two whole commands (A = pgcert, B = the alternative) alternately, after warm-up
runs, each in a fresh directory, and reports the median wall time (min-max), the peak RSS of the
largest process, and the ratio of medians. Nothing here is a pass/fail test: it prints figures.

Cases (targets from issue 3):
  quickstart-ec    pgcert quickstart (ECDSA P-256)  vs  the PostgreSQL manual's openssl recipe
                   (bench/openssl-manual.sh ec): root, intermediate, server, client, CRLs.
                   Target: pgcert at least 10x faster.
  quickstart-ec-nosync  the same with --no-sync: no fsync, the durability the openssl recipe has
                   (openssl never fsyncs); the like-for-like comparison.
  quickstart-rsa   the same with RSA-2048 (key generation dominates; no target).
  issue-growth     pgcert issue server into an empty CA  vs  into a CA whose index.txt holds
                   --entries entries (default 200,000). Target: at most 1.2x. Reference: the
                   same for `openssl ca`.
  big-db           on a 200,000-entry database with 10,000 revoked entries: pgcert crl vs
                   `openssl ca -gencrl` (target: pgcert faster), and the peak memory of pgcert
                   list, list --json, revoke and crl (target: at most 32 MB each).

usage: python3 bench/run.py [--runs N] [--rsa-runs N] [--only CASE] [--pgcert PATH]
By default it builds pgcert with `cargo build --release` first.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run_once(argv, cwd):
    """Run argv; return (wall seconds, peak RSS KiB of its largest process, or 0 if unknown).

    Peak RSS comes from GNU time (`%M`) wrapped around the command: a process forked straight
    from Python would report Python's own RSS. The wrapper's fork+exec (~1 ms) is paid equally
    by both sides of every comparison."""
    full = [GNU_TIME, "-f", "PGCERT_BENCH_RSS=%M"] + argv if GNU_TIME else argv
    t0 = time.perf_counter()
    p = subprocess.run(full, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(argv)}\n{err}")
    rss = 0
    for line in err.splitlines():
        if line.startswith("PGCERT_BENCH_RSS="):
            rss = int(line.split("=", 1)[1])
    return wall, rss


def paired(name, a_label, make_a, b_label, make_b, runs, warmup=2):
    """make_x(i) -> (argv, cwd) prepared outside the timed region."""
    a, b, ra, rb = [], [], [], []
    for i in range(warmup + runs):
        for label, make, walls, rss in ((a_label, make_a, a, ra), (b_label, make_b, b, rb)):
            argv, cwd = make(i)
            w, m = run_once(argv, cwd)
            if i >= warmup:
                walls.append(w)
                rss.append(m)
    ratios = [y / x for x, y in zip(a, b)]
    res = {
        "case": name,
        "runs": runs,
        "a": {"label": a_label, "median_ms": statistics.median(a) * 1e3, "min_ms": min(a) * 1e3,
              "max_ms": max(a) * 1e3, "peak_rss_mib": max(ra) / 1024},
        "b": {"label": b_label, "median_ms": statistics.median(b) * 1e3, "min_ms": min(b) * 1e3,
              "max_ms": max(b) * 1e3, "peak_rss_mib": max(rb) / 1024},
        "ratio_b_over_a_of_medians": statistics.median(b) / statistics.median(a),
        "paired_ratio_median": statistics.median(ratios),
    }
    return res


def fmt(res):
    a, b = res["a"], res["b"]
    lines = [f"== {res['case']} (n={res['runs']} each, interleaved)"]
    for x in (a, b):
        lines.append(f"  {x['label']:<58} median {x['median_ms']:8.1f} ms  "
                     f"({x['min_ms']:.1f}-{x['max_ms']:.1f})  peak RSS {x['peak_rss_mib']:.1f} MiB")
    lines.append(f"  ratio (B/A, medians): {res['ratio_b_over_a_of_medians']:.2f}x   "
                 f"paired median: {res['paired_ratio_median']:.2f}x")
    return "\n".join(lines)


def fresh(base, tag, i):
    d = os.path.join(base, f"{tag}-{i}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def make_index(ca_dir, n, revoked_every=0):
    """Fill a CA's index.txt with n entries in OpenSSL's format, below the CA's next serial;
    every `revoked_every`-th one revoked."""
    with open(os.path.join(ca_dir, "serial")) as f:
        nxt = int(f.read().strip(), 16)
    start = nxt
    with open(os.path.join(ca_dir, "index.txt"), "w") as f:
        for i in range(n):
            if revoked_every and i % revoked_every == 0:
                f.write(f"R\t361231235959Z\t261201000000Z,superseded\t{start + i:X}\tunknown\t"
                        f"/CN=client-{i}/O=bench\n")
            else:
                f.write(f"V\t361231235959Z\t\t{start + i:X}\tunknown\t/CN=client-{i}/O=bench\n")
    s = f"{start + n:X}"
    if len(s) % 2:
        s = "0" + s
    with open(os.path.join(ca_dir, "serial"), "w") as f:
        f.write(s + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--rsa-runs", type=int, default=21)
    ap.add_argument("--only", default="")
    ap.add_argument("--pgcert", default="")
    ap.add_argument("--entries", type=int, default=200000)
    args = ap.parse_args()

    pgcert = args.pgcert
    if not pgcert:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        pgcert = os.path.join(ROOT, "target", "release", "pgcert")
    recipe = os.path.join(HERE, "openssl-manual.sh")
    base = tempfile.mkdtemp(prefix="pgcert-bench-")
    results = []
    try:
        for kt, ok, n, flags in (("ecdsa-p256", "ec", args.runs, []),
                                 ("ecdsa-p256", "ec", args.runs, ["--no-sync"]),
                                 ("rsa2048", "rsa", args.rsa_runs, [])):
            name = f"quickstart-{ok}" + ("-nosync" if flags else "")
            if args.only and args.only != name:
                continue
            res = paired(
                name,
                f"A: pgcert {' '.join(flags + ['quickstart'])} --key-type {kt}",
                lambda i, kt=kt, flags=flags: ([pgcert, "-q"] + flags + [
                    "quickstart", "--out", fresh(base, "qs", i), "--key-type", kt, "--user", "postgres"], base),
                f"B: openssl-manual.sh {ok} (PostgreSQL manual recipe)",
                lambda i, ok=ok: (["bash", recipe, fresh(base, "om", i), ok], base),
                n,
            )
            results.append(res)
            print(fmt(res), flush=True)

        if not args.only or args.only == "issue-growth":
            cas = {}
            for tag, n in (("empty", 0), ("big", args.entries)):
                d = os.path.join(base, f"ca-{tag}")
                subprocess.run([pgcert, "-q", "init-ca", "--ca", d], check=True)
                if n:
                    make_index(d, n)
                cas[tag] = d
            for tag in cas:
                os.makedirs(os.path.join(base, f"out-{tag}"), exist_ok=True)

            def issue(tag):
                def make(i):
                    return ([pgcert, "-q", "--ca", cas[tag], "issue", "server", "--cn", "localhost",
                             "--name", f"{tag}-{i}", "--out", os.path.join(base, f"out-{tag}")], base)
                return make

            res = paired("issue-growth", "A: pgcert issue server, empty CA", issue("empty"),
                         f"B: pgcert issue server, {args.entries} entries", issue("big"), args.runs)
            results.append(res)
            print(fmt(res), flush=True)
            # reference: openssl ca on the same two databases (pgcert's openssl.cnf)
            subprocess.run(["openssl", "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-keyout", os.path.join(base, "r.key"),
                            "-out", os.path.join(base, "r.csr"), "-subj", "/CN=localhost"],
                           check=True, stderr=subprocess.DEVNULL)

            def ossl(tag):
                def make(i):
                    return (["openssl", "ca", "-batch", "-notext", "-config",
                             os.path.join(cas[tag], "openssl.cnf"), "-in", os.path.join(base, "r.csr"),
                             "-out", os.path.join(base, f"out-{tag}", f"o-{i}.crt")], base)
                return make

            res = paired("openssl-ca-growth (reference)", "A: openssl ca, empty CA", ossl("empty"),
                         f"B: openssl ca, {args.entries} entries", ossl("big"), args.runs)
            results.append(res)
            print(fmt(res), flush=True)
        if not args.only or args.only == "big-db":
            big = os.path.join(base, "ca-bigdb")
            subprocess.run([pgcert, "-q", "init-ca", "--ca", big], check=True)
            make_index(big, 200000, revoked_every=20)
            first = int(open(os.path.join(big, "index.txt")).readline().split("\t")[3], 16)
            # one pgcert write first, so both tools start from a checked, cached database
            subprocess.run([pgcert, "-q", "crl", "--ca", big], check=True)

            def pg_crl(i):
                return ([pgcert, "-q", "crl", "--ca", big], base)

            def ossl_crl(i):
                return (["openssl", "ca", "-config", os.path.join(big, "openssl.cnf"), "-gencrl",
                         "-out", os.path.join(base, f"o-{i}.crl")], base)

            res = paired("big-db crl (10,000 revoked of 200,000)", "A: pgcert crl", pg_crl,
                         "B: openssl ca -gencrl", ossl_crl, args.runs)
            results.append(res)
            print(fmt(res), flush=True)
            mem = {}
            for label, argv in (
                ("list", lambda i: [pgcert, "list", "--ca", big]),
                ("list --json", lambda i: [pgcert, "--json", "list", "--ca", big]),
                ("crl", lambda i: [pgcert, "-q", "crl", "--ca", big]),
                # a different valid serial each run (every 20th entry is already revoked)
                ("revoke", lambda i: [pgcert, "-q", "revoke", "--ca", big, f"{first + 1 + i:X}"]),
            ):
                rss, walls = [], []
                for i in range(args.runs):
                    w, r = run_once(argv(i), base)
                    rss.append(r)
                    walls.append(w)
                mem[label] = {"median_ms": statistics.median(walls) * 1000,
                              "peak_rss_mib": max(rss) / 1024}
                print(f"  pgcert {label:<12} on 200,000 entries: median {mem[label]['median_ms']:7.1f} ms, "
                      f"peak RSS {mem[label]['peak_rss_mib']:.1f} MiB", flush=True)
            results.append({"case": "big-db memory", "pgcert": mem})
    finally:
        shutil.rmtree(base, ignore_errors=True)

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(HERE, "results", f"{stamp}.json")
    with open(path, "w") as f:
        json.dump({"pgcert": pgcert, "results": results}, f, indent=2)
    print(f"\nraw results: {path}")


if __name__ == "__main__":
    main()
