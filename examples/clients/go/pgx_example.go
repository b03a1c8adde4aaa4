// Connect with Go's pgx (over pgconn) using only the standard libpq environment variables.
//
// pgconn parses PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGSSLCERT and
// PGSSLKEY itself when the connection string is empty, with libpq's meanings: verify-full
// checks the chain and the host name, verify-ca the chain only. Unlike libpq, pgconn does not
// fall back to ~/.postgresql/ for the files, and with sslmode=require and a PGSSLROOTCERT set
// it behaves as verify-ca. Runs one query; on a refused connection prints the driver's error
// and exits 1.
//
//	PGHOST=db.example.com PGUSER=alice PGSSLMODE=verify-full PGSSLROOTCERT=root.crt \
//	  PGSSLCERT=postgresql.crt PGSSLKEY=postgresql.key go run pgx_example.go
//
// Built and run in pgcert's CI with Debian 12's golang-go (1.19) and
// golang-github-jackc-pgx-v4-dev (pgx 4.15, pgconn 1.11), in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run pgx_example.go
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v4"
)

func main() {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, "")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgx v4: %v\n", err)
		os.Exit(1)
	}
	defer conn.Close(ctx)
	var user, version string
	var ssl bool
	err = conn.QueryRow(ctx,
		"select current_user::text, ssl, version from pg_stat_ssl where pid = pg_backend_pid()",
	).Scan(&user, &ssl, &version)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgx v4: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("pgx v4: connected as %s, ssl=%t (%s)\n", user, ssl, version)
}
