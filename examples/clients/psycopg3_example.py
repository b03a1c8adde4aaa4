#!/usr/bin/env python3
"""Connect with psycopg 3 using only the standard libpq environment variables.

psycopg 3 is built on libpq, so it reads PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE,
PGSSLROOTCERT, PGSSLCERT and PGSSLKEY itself (and ~/.postgresql/postgresql.crt, postgresql.key,
root.crt when they are not set). Runs one query; on a refused connection prints the driver's
error and exits 1.

    PGHOST=db.example.com PGUSER=alice PGSSLMODE=verify-full python3 psycopg3_example.py

(Not named psycopg.py: that would shadow the psycopg package.)
"""
import sys

import psycopg

try:
    with psycopg.connect("") as conn:
        row = conn.execute(
            "select current_user, ssl, version from pg_stat_ssl where pid = pg_backend_pid()"
        ).fetchone()
        print(f"psycopg {psycopg.__version__}: connected as {row[0]}, ssl={row[1]} ({row[2]})")
except psycopg.Error as e:
    print(f"psycopg {psycopg.__version__}: {e}", file=sys.stderr)
    sys.exit(1)
