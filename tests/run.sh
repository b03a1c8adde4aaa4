#!/usr/bin/env bash
# The README's test command: installs what the tests need when it is missing (PostgreSQL 15,
# psql, openssl, Java and PgJDBC with apt-get, as root; pkilint with pip), then checks formatting
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

# pkilint (RFC 5280 linter) for tests/cli/lint.rs, from PyPI
if ! command -v lint_pkix_cert >/dev/null; then
  if command -v pip3 >/dev/null || command -v pip >/dev/null; then
    echo "installing: pkilint (pip)" >&2
    "$(command -v pip3 || command -v pip)" install --quiet pkilint >/dev/null 2>&1 \
      || echo "could not install pkilint with pip" >&2
  else
    echo "missing pkilint: pip install pkilint" >&2
  fi
fi

# PyYAML parses the Kubernetes export (tests/cli/sets.rs); psycopg 3 and asyncpg run the client
# examples (tests/cli/clients.rs)
for mod in "yaml pyyaml" "psycopg psycopg[binary]" "asyncpg asyncpg"; do
  set -- $mod
  if ! python3 -c "import $1" 2>/dev/null; then
    echo "installing: $2 (pip)" >&2
    "$(command -v pip3 || command -v pip)" install --quiet "$2" >/dev/null 2>&1 \
      || echo "could not install $2 with pip" >&2
  fi
done
# node-postgres for examples/clients/node-postgres.js (Node and npm from apt when missing)
if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing: nodejs npm" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -d examples/clients/node_modules/pg ] && command -v npm >/dev/null; then
  echo "installing: pg (npm) into examples/clients" >&2
  (cd examples/clients && npm install --silent --no-audit --no-fund >/dev/null 2>&1) \
    || echo "could not install pg with npm" >&2
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --quiet
