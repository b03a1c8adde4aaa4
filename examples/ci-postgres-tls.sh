#!/usr/bin/env bash
# A CI job's TLS setup for PostgreSQL, end to end:
#   1. mint a root + intermediate CA, a server certificate straight into a fresh data directory,
#      and a client certificate for the database user;
#   2. start a throwaway PostgreSQL with ssl = on, client certificates required (cert auth);
#   3. connect with sslmode=verify-full and the client certificate, and print what pg_stat_ssl says.
#
# Runs as root (PostgreSQL then runs as the `postgres` user through runuser, as Debian CI images
# need) or as an ordinary user. Needs: pgcert on PATH (or PGCERT=path), PostgreSQL's initdb and
# postgres (found with pg_config --bindir, or /usr/lib/postgresql/15/bin), psql.
# PGCERT_NO_SYNC=1 skips fsync: these certificates are thrown away with the job.
set -euo pipefail
PGCERT=${PGCERT:-pgcert}
export PGCERT_NO_SYNC=${PGCERT_NO_SYNC:-1}
bindir=$(pg_config --bindir)
[ -x "$bindir/initdb" ] || bindir=/usr/lib/postgresql/15/bin

work=$(mktemp -d -t pgcert-ci.XXXXXX)
chmod 755 "$work"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  as_pg=(runuser -u postgres --)
  chown postgres: "$work"
fi
cleanup() {
  [ -n "${pg_pid:-}" ] && kill "$pg_pid" 2>/dev/null && wait "$pg_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. certificates
"${as_pg[@]}" "$bindir/initdb" -D "$work/data" -A trust -U postgres --no-sync >/dev/null
"$PGCERT" -q init-ca --ca "$work/ca/root" --cn "CI Root CA" --days 30
"$PGCERT" -q init-ca --ca "$work/ca/pg" --parent "$work/ca/root" --cn "CI PostgreSQL CA" --days 30
"$PGCERT" -q issue server --ca "$work/ca/pg" --cn localhost --san 127.0.0.1 --days 7 --pgdata "$work/data"
"$PGCERT" -q issue client --ca "$work/ca/pg" --cn postgres --days 7 --out "$work/client"

# 2. server: TLS only, client certificates required
cat >> "$work/data/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'root.crt'
ssl_crl_file = '$work/ca/pg/crl.pem'
CONF
# PostgreSQL checks a CRL for every CA of a chain: append the root's CRL to the intermediate's
cat "$work/ca/root/crl.pem" >> "$work/ca/pg/crl.pem"
printf 'local all all trust\nhostssl all all 127.0.0.1/32 cert\n' > "$work/data/pg_hba.conf"
# a free port can be taken by someone else before postgres binds it: try a few
for attempt in 1 2 3; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as_pg[@]}" "$bindir/postgres" -D "$work/data" -c listen_addresses=127.0.0.1 -c port="$port" \
    -c unix_socket_directories="$work" >"$work/postgres.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 150); do
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break 2
    kill -0 "$pg_pid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$pg_pid" 2>/dev/null || true
  pg_pid=
  echo "postgres did not start (attempt $attempt):" >&2; cat "$work/postgres.log" >&2
done
[ -n "$pg_pid" ] || exit 1

# 3. client: verify-full against the root, authenticated by the certificate's CN
psql "host=localhost port=$port user=postgres dbname=postgres sslmode=verify-full \
      sslrootcert=$work/client/root.crt sslcert=$work/client/postgresql.crt sslkey=$work/client/postgresql.key" \
  -XtAc "select 'connected as ' || current_user || ', ' || version || ', ' || cipher
         from pg_stat_ssl where pid = pg_backend_pid()"
