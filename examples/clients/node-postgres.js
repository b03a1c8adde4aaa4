#!/usr/bin/env node
// Connect with node-postgres (pg) using the standard libpq environment variables.
//
// node-postgres reads PGHOST, PGPORT, PGUSER and PGDATABASE itself, but not the certificate
// variables, and PGSSLMODE only as "TLS or not": it never loads PGSSLROOTCERT, PGSSLCERT or
// PGSSLKEY. This example maps them the way libpq uses them:
//   verify-full  the server's chain against PGSSLROOTCERT and its name against PGHOST
//   verify-ca    the chain only (Node checks the name unless checkServerIdentity is replaced)
//   require      TLS without checks (in a connection *string*, node-postgres treats
//                sslmode=require as verify-full; that quirk does not apply here)
// Runs one query; on a refused connection prints the driver's error and exits 1.
//
//   PGHOST=db.example.com PGUSER=alice PGSSLMODE=verify-full PGSSLROOTCERT=root.crt \
//   PGSSLCERT=postgresql.crt PGSSLKEY=postgresql.key node node-postgres.js
'use strict';
const fs = require('fs');
const { Client } = require('pg');

const mode = process.env.PGSSLMODE || 'prefer';
const read = (v) => (process.env[v] ? fs.readFileSync(process.env[v]) : undefined);
let ssl = false;
if (mode !== 'disable' && mode !== 'allow' && mode !== 'prefer') {
  ssl = {
    ca: read('PGSSLROOTCERT'),
    cert: read('PGSSLCERT'),
    key: read('PGSSLKEY'),
    rejectUnauthorized: mode === 'verify-ca' || mode === 'verify-full',
  };
  if (mode === 'verify-ca') ssl.checkServerIdentity = () => undefined;
}

const client = new Client({ ssl });
client
  .connect()
  .then(() => client.query('select current_user, ssl, version from pg_stat_ssl where pid = pg_backend_pid()'))
  .then((res) => {
    const r = res.rows[0];
    console.log(`node-postgres ${require('pg/package.json').version}: connected as ${r.current_user}, ssl=${r.ssl} (${r.version})`);
    return client.end();
  })
  .catch((e) => {
    console.error(`node-postgres: ${e.message}`);
    process.exit(1);
  });
