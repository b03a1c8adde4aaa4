//! The `postgresql.conf`, `pg_hba.conf` and `psql` lines that put a certificate set to use.
//! Paths are quoted the way postgresql.conf and libpq connection strings quote them.

use std::path::Path;

use serde::Serialize;

/// What quickstart tells the user to paste.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Lines for postgresql.conf.
    pub postgresql_conf: Vec<String>,
    /// Lines for pg_hba.conf.
    pub pg_hba_conf: Vec<String>,
    /// A psql command line.
    pub psql: String,
    /// The libpq connection string inside it.
    pub conninfo: String,
}

impl Settings {
    /// The block printed on stdout.
    pub fn text(&self) -> String {
        let mut s = String::from("# postgresql.conf\n");
        for l in &self.postgresql_conf {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(
            "\n# pg_hba.conf (cert authentication: the client certificate's CN is the user)\n# put these lines above the existing host lines: the first line that matches a connection wins\n",
        );
        for l in &self.pg_hba_conf {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str("\n# connect (sslmode=verify-full)\n");
        s.push_str(&self.psql);
        s.push('\n');
        s
    }
}

/// A postgresql.conf string value: single-quoted, quotes doubled.
pub fn conf_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A libpq conninfo value: single-quoted when needed, `\` and `'` escaped.
pub fn conninfo_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// A shell word, single-quoted when needed.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Where quickstart's files are, for the settings it prints.
pub struct SettingsInput<'a> {
    /// server.crt (leaf + intermediate): ssl_cert_file.
    pub server_cert: &'a Path,
    /// server.key: ssl_key_file.
    pub server_key: &'a Path,
    /// Roots that verify client certificates: ssl_ca_file.
    pub server_ca: &'a Path,
    /// CRL file for every CA of the chain: ssl_crl_file.
    pub server_crl: &'a Path,
    /// The host clients connect to (the server certificate's CN).
    pub host: &'a str,
    /// Port to connect to.
    pub port: u16,
    /// Database user = client certificate CN.
    pub user: &'a str,
    /// Client files.
    pub client_cert: &'a Path,
    /// Client key.
    pub client_key: &'a Path,
    /// Root certificate the client verifies the server with.
    pub client_root: &'a Path,
}

/// The settings for a quickstart set.
pub fn quickstart_settings(i: &SettingsInput<'_>) -> Settings {
    let p = |p: &Path| p.display().to_string();
    let postgresql_conf = vec![
        "ssl = on".to_string(),
        format!("ssl_cert_file = {}", conf_quote(&p(i.server_cert))),
        format!("ssl_key_file = {}", conf_quote(&p(i.server_key))),
        format!("ssl_ca_file = {}", conf_quote(&p(i.server_ca))),
        format!("ssl_crl_file = {}", conf_quote(&p(i.server_crl))),
    ];
    let pg_hba_conf = vec![
        format!("hostssl all {} 127.0.0.1/32 cert", i.user),
        format!("hostssl all {} ::1/128 cert", i.user),
    ];
    let conninfo = format!(
        "host={} port={} user={} dbname=postgres sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
        conninfo_quote(i.host),
        i.port,
        conninfo_quote(i.user),
        conninfo_quote(&p(i.client_root)),
        conninfo_quote(&p(i.client_cert)),
        conninfo_quote(&p(i.client_key)),
    );
    Settings {
        postgresql_conf,
        pg_hba_conf,
        psql: format!("psql {}", shell_quote(&conninfo)),
        conninfo,
    }
}

/// A client's files and where it connects, for `--print-connect`.
pub struct ConnectInput<'a> {
    /// Host name (verify-full checks it).
    pub host: &'a str,
    /// Port.
    pub port: u16,
    /// Database user (the certificate's CN).
    pub user: &'a str,
    /// root.crt.
    pub root: &'a Path,
    /// postgresql.crt.
    pub cert: &'a Path,
    /// postgresql.key (PEM).
    pub key: &'a Path,
    /// postgresql.pk8 (DER, PgJDBC).
    pub pk8: &'a Path,
}

/// The languages `--print-connect` knows.
pub const CONNECT_KINDS: [&str; 5] = ["libpq", "jdbc", "node", "python", "go"];

/// Ready connection lines for one client library, all with sslmode=verify-full and the client
/// certificate.
pub fn connect_snippet(kind: &str, i: &ConnectInput<'_>) -> Vec<String> {
    let p = |p: &Path| p.display().to_string();
    let url_escape = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let conninfo = format!(
        "host={} port={} user={} dbname=postgres sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
        conninfo_quote(i.host),
        i.port,
        conninfo_quote(i.user),
        conninfo_quote(&p(i.root)),
        conninfo_quote(&p(i.cert)),
        conninfo_quote(&p(i.key)),
    );
    let url = |key: &Path| {
        format!(
            "{}:{}/postgres?user={}&sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            i.host,
            i.port,
            url_escape(i.user),
            url_escape(&p(i.root)),
            url_escape(&p(i.cert)),
            url_escape(&p(key))
        )
    };
    match kind {
        "libpq" => vec![format!("psql {}", shell_quote(&conninfo))],
        "jdbc" => vec![format!("jdbc:postgresql://{}", url(i.pk8))],
        "python" => vec![
            "import psycopg".into(),
            format!("conn = psycopg.connect({:?})", conninfo),
        ],
        "node" => vec![
            "const fs = require('fs');".into(),
            "const { Client } = require('pg');".into(),
            format!(
                "const client = new Client({{ host: {:?}, port: {}, user: {:?}, database: 'postgres', ssl: {{ ca: fs.readFileSync({:?}), cert: fs.readFileSync({:?}), key: fs.readFileSync({:?}), rejectUnauthorized: true }} }});",
                i.host,
                i.port,
                i.user,
                p(i.root),
                p(i.cert),
                p(i.key)
            ),
        ],
        "go" => vec![format!(
            "conn, err := pgx.Connect(ctx, {:?})",
            format!(
                "postgres://{}@{}:{}/postgres?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
                url_escape(i.user),
                i.host,
                i.port,
                url_escape(&p(i.root)),
                url_escape(&p(i.cert)),
                url_escape(&p(i.key))
            )
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_postgres_libpq_and_shell_rules() {
        assert_eq!(conf_quote("/a/it's"), "'/a/it''s'");
        assert_eq!(conninfo_quote("/tmp/x.crt"), "/tmp/x.crt");
        assert_eq!(conninfo_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
