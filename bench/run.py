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
  peers-ec, peers-rsa  (issue 13) the same job - root, intermediate, server + client, chain, CRL -
                   by pgcert quickstart (durable and --no-sync) and by every peer of
                   ../shared/peers whose tool is installed (the manual's openssl recipe, openssl ca,
                   easy-rsa, mkcert, minica, cfssl, trustme, certtool), round-robin in one run:
                   each round runs every tool once, in rotating order. Medians, and paired ratios
                   (the tool's time over pgcert's in the same round). Targets: ECDSA durable at most
                   0.10x the manual's recipe and faster than every peer, --no-sync at most 0.05x;
                   RSA-2048 faster than certtool.
  keygen-rsa       (issue 13) one RSA-2048 key per process: pgcert key gen vs openssl genrsa vs GnuTLS
                   certtool (in-process, crate against crate: bench/rsa-keygen, run by hand).
  mint-1000        (issue 13) pgcert mint of 1,000 ECDSA client certificates (root + intermediate
                   + 1,000 leaves, durable and --no-sync) vs bench/openssl-ca-loop.sh (openssl req
                   + openssl ca per certificate). Targets: durable under 0.5 s, --no-sync under 0.3 s.

usage: python3 bench/run.py [--runs N] [--rsa-runs N] [--only CASE] [--pgcert PATH] [--peers DIR]
                           [--dir DIR | --journaled-ext4]
By default it builds pgcert with `cargo build --release` first.

Where the runs write matters as much as what they run. --dir DIR puts every run's output under
DIR (default: a new directory in $TMPDIR). --journaled-ext4 (root only) makes a 4 GiB ext4 image
with mkfs.ext4's defaults (a journal, as every distribution's installer makes it), mounts it on a
loop device, runs there and removes it afterwards. Why it exists: the project machine's root file
system is ext4 *without* a journal, and there ext4's inode allocator skips every inode freed in the
last 5-10 seconds (recently_deleted() in fs/ext4/ialloc.c, only used when there is no journal),
one buffer-cache lookup each. After a tool deletes or renames over a few thousand files (an
`openssl ca` loop replaces index.txt, serial and index.txt.attr per certificate), every file
created in the next ~30 s costs 0.2-0.3 ms instead of 6 us, whoever creates it. The figures
printed name the file system and whether it has a journal.

Times are whole processes, start-up included, started with posix_spawn and reaped with wait4
(peak RSS from its resource usage); the runner's own floor, a process that does nothing, is
printed first. It is part of every figure, of every tool alike.
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


ERR_FILE = os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(),
                        f"pgcert-bench-stderr-{os.getpid()}")


def run_once(argv, cwd):
    """Run argv; return its wall time in seconds.

    The process is started with posix_spawn and reaped with wait4. Python's subprocess module
    and a GNU time wrapper cost about 6 ms per run on the project machine, as much as pgcert's
    whole job: that overhead belongs to neither tool, so it is kept out of the timed region
    (peak memory is measured apart, by `peak_rss`). The runner's own floor (a process that does
    nothing) is measured and printed by `bench`. stdout goes to /dev/null, stderr to one reused
    file (so no run creates or deletes a file in the measured directory)."""
    err_fd = os.open(ERR_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(err_fd)
    here = os.getcwd()
    os.chdir(cwd)
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, ERR_FILE, os.O_WRONLY, 0),
        ])
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
    finally:
        os.chdir(here)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        with open(ERR_FILE, errors="replace") as f:
            sys.exit(f"command failed ({code}): {' '.join(argv)}\n{f.read()}")
    return wall


def peak_rss(argv, cwd):
    """Peak RSS in KiB of argv's largest process, from GNU time (`%M`) wrapped around it, in a
    run of its own that is not timed: posix_spawn shares Python's memory until exec, so wait4
    would report Python's own peak."""
    if not GNU_TIME:
        return 0
    p = subprocess.run([GNU_TIME, "-f", "PGCERT_BENCH_RSS=%M"] + argv, cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(argv)}\n{p.stderr.decode(errors='replace')}")
    for line in p.stderr.decode(errors="replace").splitlines():
        if line.startswith("PGCERT_BENCH_RSS="):
            return int(line.split("=", 1)[1])
    return 0


GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def runner_floor(runs=31):
    """Median wall time of a process that does nothing (`true`), through run_once."""
    return statistics.median(run_once(["true"], "/") for _ in range(runs))


def paired(name, a_label, make_a, b_label, make_b, runs, warmup=2):
    """make_x(i) -> (argv, cwd) prepared outside the timed region."""
    a, b = [], []
    for i in range(warmup + runs):
        for make, walls in ((make_a, a), (make_b, b)):
            w = run_once(*make(i))
            if i >= warmup:
                walls.append(w)
    ra, rb = peak_rss(*make_a(warmup + runs)), peak_rss(*make_b(warmup + runs))
    ratios = [y / x for x, y in zip(a, b)]
    res = {
        "case": name,
        "runs": runs,
        "a": {"label": a_label, "median_ms": statistics.median(a) * 1e3, "min_ms": min(a) * 1e3,
              "max_ms": max(a) * 1e3, "peak_rss_mib": ra / 1024},
        "b": {"label": b_label, "median_ms": statistics.median(b) * 1e3, "min_ms": min(b) * 1e3,
              "max_ms": max(b) * 1e3, "peak_rss_mib": rb / 1024},
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


def roundrobin(name, tools, runs, warmup=2):
    """tools: [(label, make(i) -> (argv, cwd))]. Each round runs every tool once, the order
    rotated by one each round; returns medians and, for every tool, the median over rounds of
    its time divided by the first tool's (the reference) and by the second's."""
    walls = {label: [] for label, _ in tools}
    for i in range(warmup + runs):
        k = i % len(tools)
        for label, make in tools[k:] + tools[:k]:
            argv, cwd = make(i)
            w = run_once(argv, cwd)
            if i >= warmup:
                walls[label].append(w)
    ref_a, ref_b = tools[0][0], tools[1][0]
    out = {"case": name, "runs": runs, "tools": []}
    for label, _ in tools:
        w = walls[label]
        out["tools"].append({
            "label": label,
            "median_ms": statistics.median(w) * 1e3,
            "min_ms": min(w) * 1e3,
            "max_ms": max(w) * 1e3,
            "paired_over_first": statistics.median([x / y for x, y in zip(w, walls[ref_a])]),
            "paired_over_second": statistics.median([x / y for x, y in zip(w, walls[ref_b])]),
        })
    return out


def fmt_rr(res):
    t0, t1 = res["tools"][0]["label"], res["tools"][1]["label"]
    lines = [f"== {res['case']} (n={res['runs']} rounds, rotating order)",
             f"  {'tool':<46} {'median':>9}  {'min-max':>15}   {'x ' + t0[:14]:>18} {'x ' + t1[:14]:>18}"]
    for t in res["tools"]:
        lines.append(f"  {t['label']:<46} {t['median_ms']:7.1f} ms  ({t['min_ms']:6.1f}-{t['max_ms']:6.1f})"
                     f"   {t['paired_over_first']:17.2f}x {t['paired_over_second']:17.2f}x")
    for note in res.get("skipped", []):
        lines.append(f"  skipped: {note}")
    return "\n".join(lines)


# peer scripts of ../shared/peers and what each needs installed
PEERS = [
    ("a-openssl-pgdocs.sh", "openssl (PostgreSQL manual recipe)", ["openssl"], "ec rsa"),
    ("b-openssl-ca.sh", "openssl ca (demoCA databases)", ["openssl"], "ec rsa"),
    ("c-easyrsa.sh", "easy-rsa", ["/usr/share/easy-rsa/easyrsa"], "ec rsa"),
    ("d-mkcert.sh", "mkcert (no intermediate, no CRL)", ["mkcert"], "ec rsa"),
    ("e-minica.sh", "minica (RSA only, no intermediate)", ["minica"], "rsa"),
    ("f-cfssl.sh", "cfssl", ["cfssl", "cfssljson"], "ec rsa"),
    ("g-trustme.sh", "trustme (Python)", ["python3:trustme"], "ec rsa"),
    ("h-certtool.sh", "GnuTLS certtool", ["certtool"], "ec rsa"),
]


def have(req):
    if req.startswith("python3:"):
        return subprocess.run(["python3", "-c", f"import {req.split(':')[1]}"],
                              stderr=subprocess.DEVNULL).returncode == 0
    if req.startswith("/"):
        return os.path.exists(req)
    return shutil.which(req) is not None


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
    ap.add_argument("--peers", default=os.path.join(os.path.dirname(ROOT), "shared", "peers"))
    ap.add_argument("--peer-runs", type=int, default=11)
    ap.add_argument("--mint-runs", type=int, default=3)
    ap.add_argument("--dir", default="")
    ap.add_argument("--journaled-ext4", action="store_true")
    args = ap.parse_args()
    mounted = None
    if args.journaled_ext4:
        mounted = mount_journaled_ext4()
        args.dir = mounted[1]
    try:
        bench(args)
    finally:
        if mounted:
            subprocess.run(["umount", mounted[1]], check=False)
            os.rmdir(mounted[1])
            os.unlink(mounted[0])


def mount_journaled_ext4():
    """A fresh 4 GiB ext4 image with mkfs.ext4's defaults, loop-mounted: (image, mount point)."""
    if os.geteuid() != 0:
        sys.exit("--journaled-ext4 mounts a loop device: run as root, or pass --dir DIR")
    image = os.path.join("/var/tmp", f"pgcert-bench-{os.getpid()}.ext4")
    with open(image, "wb") as f:
        f.truncate(4 << 30)
    point = tempfile.mkdtemp(prefix="pgcert-bench-mnt-")
    try:
        subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
        subprocess.run(["mount", "-o", "loop", image, point], check=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        os.rmdir(point)
        os.unlink(image)
        sys.exit(f"cannot make a journaled ext4 to run in ({e}): pass --dir DIR instead")
    return image, point


def describe_fs(path):
    """'ext4 on /dev/vda (no journal)', 'tmpfs on tmpfs', ... for the file system holding path."""
    try:
        src, fstype = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "--target", path],
                                     capture_output=True, text=True, check=True).stdout.split()[:2]
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError):
        return "unknown file system"
    if fstype in ("ext3", "ext4") and os.path.isdir("/proc/fs/jbd2"):
        # a journaled ext3/ext4 has a jbd2 entry named after its device (vda-8, loop0-8)
        dev = os.path.basename(os.path.realpath(src))
        journal = any(j.rsplit("-", 1)[0] == dev for j in os.listdir("/proc/fs/jbd2"))
        return f"{fstype} on {src} ({'journal' if journal else 'no journal'})"
    return f"{fstype} on {src}"


def bench(args):
    pgcert = args.pgcert
    if not pgcert:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        pgcert = os.path.join(ROOT, "target", "release", "pgcert")
    recipe = os.path.join(HERE, "openssl-manual.sh")
    base = tempfile.mkdtemp(prefix="pgcert-bench-", dir=args.dir or None)
    floor = runner_floor()
    where = describe_fs(base)
    print(f"runs write in {base}: {where}", flush=True)
    print(f"runner floor (a process that does nothing): {floor * 1e3:.2f} ms", flush=True)
    results = [{"case": "environment", "dir": base, "file_system": where,
                "runner_floor_ms": floor * 1e3}]
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
                walls = [run_once(argv(i), base) for i in range(args.runs)]
                rss = [peak_rss(argv(args.runs), base)]
                mem[label] = {"median_ms": statistics.median(walls) * 1000,
                              "peak_rss_mib": max(rss) / 1024}
                print(f"  pgcert {label:<12} on 200,000 entries: median {mem[label]['median_ms']:7.1f} ms, "
                      f"peak RSS {mem[label]['peak_rss_mib']:.1f} MiB", flush=True)
            results.append({"case": "big-db memory", "pgcert": mem})
        for variant, kt in (("ec", "ecdsa-p256"), ("rsa", "rsa2048")):
            name = f"peers-{variant}"
            if args.only and args.only != name:
                continue
            tools = [
                (f"pgcert quickstart ({kt})", lambda i, kt=kt: ([pgcert, "-q", "quickstart", "--out",
                 fresh(base, "pq", i), "--key-type", kt, "--user", "postgres"], base)),
                (f"pgcert --no-sync quickstart ({kt})", lambda i, kt=kt: ([pgcert, "-q", "--no-sync",
                 "quickstart", "--out", fresh(base, "pn", i), "--key-type", kt, "--user", "postgres"], base)),
            ]
            skipped = []
            if not os.path.isdir(args.peers):
                skipped.append(f"{args.peers} not found: no peers (pass --peers DIR)")
            else:
                for script, label, needs, variants in PEERS:
                    if variant not in variants.split():
                        continue
                    missing = [r for r in needs if not have(r)]
                    if missing:
                        skipped.append(f"{label}: {', '.join(missing)} not installed")
                        continue
                    path = os.path.join(args.peers, script)
                    tools.append((label, lambda i, path=path, variant=variant, tag=script[:2]: (
                        ["bash", path, fresh(base, "peer-" + tag, i), variant], base)))
            res = roundrobin(name, tools, args.peer_runs)
            res["skipped"] = skipped
            results.append(res)
            print(fmt_rr(res), flush=True)
        if not args.only or args.only == "keygen-rsa":
            kg = fresh(base, "keygen", 0)
            tools = [
                ("pgcert key gen --key-type rsa2048", lambda i: ([pgcert, "-q", "key", "gen", "--key-type",
                 "rsa2048", "--out", os.path.join(kg, f"p{i}.key")], base)),
                ("openssl genrsa 2048", lambda i: (["openssl", "genrsa", "-out", os.path.join(kg, f"o{i}.key"),
                 "2048"], base)),
            ]
            if have("certtool"):
                tools.append(("certtool --generate-privkey rsa 2048", lambda i: (["certtool",
                              "--generate-privkey", "--key-type=rsa", "--bits=2048", "--outfile",
                              os.path.join(kg, f"c{i}.key")], base)))
            res = roundrobin("keygen-rsa", tools, args.peer_runs * 2)
            results.append(res)
            print(fmt_rr(res), flush=True)
        if not args.only or args.only == "mint-1000":
            plan = os.path.join(base, "mint-1000.toml")
            with open(plan, "w") as f:
                f.write('[[ca]]\nname = "root"\ncn = "Root"\n\n[[ca]]\nname = "inter"\nparent = "root"\n'
                        'cn = "Intermediate"\n\n[[leaf]]\nname = "user{n}"\nca = "inter"\nprofile = "client"\n'
                        'cn = "user{n}"\ncount = 1000\ncert = "clients/user{n}.crt"\nkey = "clients/user{n}.key"\n')
            loop = os.path.join(HERE, "openssl-ca-loop.sh")
            tools = [
                ("pgcert mint, 1000 clients", lambda i: ([pgcert, "-q", "mint", plan, "--out",
                 os.path.join(fresh(base, "mint", i), "out")], base)),
                ("pgcert --no-sync mint, 1000 clients", lambda i: ([pgcert, "-q", "--no-sync", "mint", plan,
                 "--out", os.path.join(fresh(base, "mintn", i), "out")], base)),
                ("openssl req + openssl ca loop, 1000", lambda i: (["bash", loop, fresh(base, "oloop", i),
                 "1000"], base)),
            ]
            if os.path.isdir("/dev/shm"):
                # the same on tmpfs: what is left when creating 3,000 files costs no disk time
                shm = tempfile.mkdtemp(prefix="pgcert-bench-", dir="/dev/shm")
                tools += [
                    ("pgcert mint, 1000 clients, tmpfs", lambda i: ([pgcert, "-q", "mint", plan, "--out",
                     os.path.join(fresh(shm, "mint", i), "out")], shm)),
                    ("pgcert --no-sync mint, 1000, tmpfs", lambda i: ([pgcert, "-q", "--no-sync", "mint",
                     plan, "--out", os.path.join(fresh(shm, "mintn", i), "out")], shm)),
                    ("openssl loop, 1000, tmpfs", lambda i: (["bash", loop, fresh(shm, "oloop", i), "1000"],
                     shm)),
                ]
            res = roundrobin("mint-1000", tools, args.mint_runs, warmup=0)
            results.append(res)
            print(fmt_rr(res), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if os.path.exists(ERR_FILE):
            os.unlink(ERR_FILE)
        for d in os.listdir("/dev/shm") if os.path.isdir("/dev/shm") else []:
            if d.startswith("pgcert-bench-"):
                shutil.rmtree(os.path.join("/dev/shm", d), ignore_errors=True)

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(HERE, "results", f"{stamp}.json")
    with open(path, "w") as f:
        json.dump({"pgcert": pgcert, "results": results}, f, indent=2)
    print(f"\nraw results: {path}")


if __name__ == "__main__":
    main()
