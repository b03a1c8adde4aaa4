#!/usr/bin/env bash
# The README's test command: installs what the tests need when it is missing (PostgreSQL 15,
# psql, openssl, Java and PgJDBC, pgBouncer, Go and pgx with apt-get, as root; pkilint with pip), then checks formatting
# and lints and runs every test.
# With CI=true no PostgreSQL or OpenSSL test may skip: a missing tool fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v openssl >/dev/null || need+=(openssl)
command -v psql >/dev/null || need+=(postgresql-client-15)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
id postgres >/dev/null 2>&1 || need+=(postgresql-15)
command -v keytool >/dev/null || need+=(openjdk-17-jre-headless)   # PKCS#12 and PgJDBC tests
[ -f /usr/share/java/postgresql.jar ] || need+=(libpostgresql-jdbc-java)
command -v flock >/dev/null || need+=(util-linux)
command -v pgbouncer >/dev/null || need+=(pgbouncer)                # the pgBouncer set's test
command -v python3 >/dev/null || need+=(python3)                    # pkilint, PyYAML, psycopg, asyncpg
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v npm >/dev/null || need+=(nodejs npm)                     # node-postgres example
command -v go >/dev/null || need+=(golang-go)                       # pgx example (Debian's Go 1.19)
[ -d /usr/share/gocode/src/github.com/jackc/pgx/v4 ] || need+=(golang-github-jackc-pgx-v4-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root" >&2
  fi
fi

# from PyPI: pkilint (tests/cli/lint.rs), PyYAML (the Kubernetes export, tests/cli/sets.rs),
# psycopg 3 and asyncpg (tests/cli/clients.rs). Debian's own python3 refuses system-wide pip
# installs (PEP 668) unless told to.
pip_install() {
  echo "installing: $1 (pip)" >&2
  python3 -m pip install --quiet "$1" >/dev/null 2>&1 \
    || python3 -m pip install --quiet --break-system-packages "$1" >/dev/null 2>&1 \
    || echo "could not install $1 with pip" >&2
}
command -v lint_pkix_cert >/dev/null || pip_install pkilint
python3 -c 'import yaml' 2>/dev/null || pip_install pyyaml
python3 -c 'import psycopg' 2>/dev/null || pip_install 'psycopg[binary]'
python3 -c 'import asyncpg' 2>/dev/null || pip_install asyncpg
# node-postgres for examples/clients/node-postgres.js
if [ ! -d examples/clients/node_modules/pg ] && command -v npm >/dev/null; then
  echo "installing: pg (npm) into examples/clients" >&2
  (cd examples/clients && npm install --silent --no-audit --no-fund >/dev/null 2>&1) \
    || echo "could not install pg with npm" >&2
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --quiet
