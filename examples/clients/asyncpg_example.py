#!/usr/bin/env python3
"""Connect with asyncpg using only the standard libpq environment variables.

asyncpg is not built on libpq but reads the same variables: PGHOST, PGPORT, PGUSER,
PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGSSLCERT and PGSSLKEY (and the ~/.postgresql defaults).
Runs one query; on a refused connection prints the driver's error and exits 1.

    PGHOST=db.example.com PGUSER=alice PGSSLMODE=verify-full python3 asyncpg_example.py
"""
import asyncio
import sys

import asyncpg


async def main() -> int:
    try:
        conn = await asyncpg.connect()
    except Exception as e:  # asyncpg raises ssl, OS and protocol errors alike
        print(f"asyncpg {asyncpg.__version__}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    try:
        row = await conn.fetchrow(
            "select current_user, ssl, version from pg_stat_ssl where pid = pg_backend_pid()"
        )
        print(f"asyncpg {asyncpg.__version__}: connected as {row[0]}, ssl={str(row[1]).lower()} ({row[2]})")
    finally:
        await conn.close()
    return 0


sys.exit(asyncio.run(main()))
