#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60), with the openssl-made seed corpus, and
# print the executions per target. Needs the nightly toolchain and cargo-fuzz
# (`rustup toolchain install nightly; cargo install cargo-fuzz`). Not part of CI.
# usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(objects certificate csr crl key encrypted_key text index_file)
[ -d corpus ] || bash seeds.sh corpus
cargo +nightly fuzz build -O >/dev/null
mkdir -p artifacts logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  if cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
       -timeout=10 >"logs/$t.log" 2>&1; then status=ok; else status="FAILED (see fuzz/logs/$t.log, fuzz/artifacts/$t)"; fi
  execs=$(grep -o 'Done [0-9]* runs' "logs/$t.log" | tail -1 | awk '{print $2}' || true)
  printf '%-14s %10s executions in %ss  %s\n' "$t" "${execs:-?}" "$secs" "$status"
done
