//! `pgcert probe`: what a live PostgreSQL server presents, and whether libpq would accept it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;

use crate::ca::read_certs;
use crate::cli::Ctx;
use crate::cli::args::{load_key, parse_pass};
use crate::cli::watch::{self, Format, WatchArgs};
use crate::error::Hint;
use crate::files::{self, FileWrite, Overwrite};
use crate::passphrase::PassSource;
use crate::pki::encoding::to_pem;
use crate::pki::inspect::CertInfo;
use crate::pki::key::{KeyKind, PrivateKey};
use crate::postgres::check::{Level, Report};
use crate::postgres::probe::{ProbeOutcome, parse_target, probe};
use crate::postgres::verify::{DEFAULT_SECURITY_LEVEL, Purpose, Request, verify};
use crate::report::Mode;

pub(crate) const HELP: &str = "Sends PostgreSQL's SSLRequest, shakes hands with TLS (1.2 or 1.3) and prints the protocol, cipher \
suite, key exchange group and the chain exactly as the server sends it; --save writes that chain as PEM, in order. Then \
judges it as libpq would for --sslmode: require (no certificate checks), verify-ca (the chain to --root) or verify-full \
(also HOST against the certificate, with libpq's rules). The default is verify-full with --root, else require. \
--cert/--key present a client certificate. A server with ssl = off is reported as such (exit 1).
Timeouts: --timeout seconds (default 10) for connecting and for each read.
Monitoring: --format nagios|prometheus judge the presented certificates' ends against --warn-days / --crit-days \
(default 30 / 7) and count a refused sslmode check or client certificate as critical, as for 'pgcert check'. Generic \
TLS monitors cannot do this: they do not speak PostgreSQL's SSLRequest.

EXAMPLES:
  pgcert probe db.example.com --root root.crt
  pgcert probe 127.0.0.1:5433 --sslmode require --save presented.pem
  pgcert probe localhost --root root.crt --cert postgresql.crt --key postgresql.key --json
  pgcert probe db.example.com --root root.crt --format nagios --warn-days 21

EXIT CODES:
  0  TLS works and the sslmode's checks pass
  1  SSL is off, the connection or handshake failed, or a check failed (nagios: WARNING)
  2  bad usage (nagios: CRITICAL)
  3  nagios only: UNKNOWN, the probe could not run";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// HOST[:PORT] (port 5432 by default; IPv6 as [ADDR]:PORT).
    #[arg(value_name = "HOST[:PORT]")]
    target: String,
    /// Trusted root(s), as sslrootcert.
    #[arg(long, value_name = "FILE")]
    root: Vec<PathBuf>,
    /// require, verify-ca or verify-full.
    #[arg(long, value_parser = ["require", "verify-ca", "verify-full"])]
    sslmode: Option<String>,
    /// Client certificate (chain) to present.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Its key.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Passphrase of --key.
    #[arg(long, value_name = "SPEC", value_parser = parse_pass)]
    passin: Option<PassSource>,
    /// With --cert: the database user of the startup message sent after the handshake
    /// (default the certificate's CN).
    #[arg(long, value_name = "NAME", requires = "cert")]
    user: Option<String>,
    /// With --cert: the database of the startup message (default the user).
    #[arg(long, value_name = "DB", requires = "cert")]
    dbname: Option<String>,
    /// Write the presented chain here (PEM, as sent).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Seconds to wait for the connection and each answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    #[command(flatten)]
    watch: WatchArgs,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let format = a.watch.format;
    watch::unknown_on_error(format, run_probe(ctx, a))
}

/// A monitor's view of the probe: the presented certificates' ends, and the refusals.
fn monitor(
    ctx: &Ctx,
    a: &Args,
    target: &str,
    certs: &[CertInfo],
    refusals: &[String],
) -> anyhow::Result<()> {
    let mut r = Report::new(a.watch.watch(time::OffsetDateTime::now_utc()));
    for c in certs {
        r.judge_certificate(target, None, c);
    }
    for m in refusals {
        r.add(Level::Error, None, m.clone(), None);
    }
    watch::emit(
        &ctx.report,
        a.watch.format,
        &r,
        &format!("pgcert probe {target}"),
        target,
    )
    .unwrap_or(Ok(()))
}

fn run_probe(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let (host, port) = parse_target(&a.target).map_err(|e| anyhow!("{}: {e}", a.target))?;
    let sslmode = a.sslmode.clone().unwrap_or_else(|| {
        if a.root.is_empty() {
            "require".into()
        } else {
            "verify-full".into()
        }
    });
    let mut roots = Vec::new();
    for r in &a.root {
        roots.extend(read_certs(r)?);
    }
    let roots_label = a
        .root
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ");
    if sslmode != "require" && roots.is_empty() {
        return Err(anyhow!("sslmode={sslmode} needs the root certificate")
            .context(Hint::new("give it with --root FILE (as sslrootcert)")));
    }
    if let Some(s) = &a.save {
        files::Staging::precheck(&[(
            s.as_path(),
            Overwrite::forced_or(ctx.force, Overwrite::Never),
        )])?;
    }
    let client = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => Some((
            read_certs(c)?
                .into_iter()
                .map(|c| c.der)
                .collect::<Vec<_>>(),
            rustls_can_sign_with(k, load_key(k, a.passin.as_ref(), "--passin", &ctx.report)?)?,
        )),
        _ => None,
    };
    let login_user = match (&a.user, &a.cert) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(c)) => Some(
            read_certs(c)?
                .first()
                .and_then(|x| x.cn.clone())
                .unwrap_or_else(|| "postgres".into()),
        ),
        _ => None,
    };
    let login_db = a.dbname.clone().or_else(|| login_user.clone());
    let outcome = probe(
        &host,
        port,
        client.as_ref().map(|(c, k)| (c.clone(), k)),
        login_user.as_deref().zip(login_db.as_deref()),
        Duration::from_secs(a.timeout.max(1)),
    )
    .map_err(|e| anyhow!("cannot probe {host}:{port}: {e}"))?;
    let target = format!("{host}:{port}");
    let machine = matches!(a.watch.format, Format::Nagios | Format::Prometheus);
    let info = match outcome {
        ProbeOutcome::SslOff if machine => {
            return monitor(
                ctx,
                &a,
                &target,
                &[],
                &[format!("{target} answered that SSL is off")],
            );
        }
        ProbeOutcome::SslOff => {
            if ctx.report.mode() == Mode::Json {
                ctx.report.data(&format!("{}\n", serde_json::json!({ "command": "probe", "host": host, "port": port, "ssl": false, "ok": false })));
            }
            return Err(anyhow!(
                "{host}:{port} answered that SSL is off (ssl = off in postgresql.conf)"
            )
            .context(Hint::new(
                "set ssl = on with ssl_cert_file and ssl_key_file, then reload the server",
            )));
        }
        ProbeOutcome::Tls(i) => i,
    };
    let certs: Vec<CertInfo> = info
        .chain
        .iter()
        .filter_map(|d| CertInfo::parse(d).ok())
        .collect();
    if certs.is_empty() {
        return Err(anyhow!("{host}:{port} presented no certificate"));
    }
    let verdict = (sslmode != "require").then(|| {
        verify(&Request {
            leaf: &certs[0],
            untrusted: &certs[1..],
            roots: &roots,
            roots_label: &roots_label,
            host: (sslmode == "verify-full").then_some(host.as_str()),
            user: None,
            crls: &[],
            purpose: Some(Purpose::Server),
            now: time::OffsetDateTime::now_utc(),
            security_level: DEFAULT_SECURITY_LEVEL,
        })
    });
    if machine {
        let mut refusals = Vec::new();
        if let Some(f) = verdict.as_ref().and_then(|v| v.first_failure()) {
            refusals.push(format!("sslmode={sslmode} would fail: {}", f.detail));
        }
        if let Some(Err(m)) = &info.startup {
            refusals.push(format!("the client certificate is refused: {m}"));
        }
        return monitor(ctx, &a, &target, &certs, &refusals);
    }
    let mut written = Vec::new();
    if let Some(s) = &a.save {
        let pem: String = info
            .chain
            .iter()
            .map(|d| to_pem("CERTIFICATE", d))
            .collect();
        written.push(files::write_one(FileWrite::public(
            s.clone(),
            pem.into_bytes(),
            "presented chain",
            Overwrite::forced_or(ctx.force, Overwrite::Never),
        ))?);
    }
    let mode = if a.watch.format == Format::Json {
        Mode::Json
    } else {
        ctx.report.mode()
    };
    match mode {
        Mode::Json => {
            let j = serde_json::json!({
                "command": "probe", "host": host, "port": port, "address": info.addr.to_string(), "ssl": true,
                "protocol": info.version, "cipher": info.cipher, "group": info.group, "sslmode": sslmode,
                "login": info.startup.as_ref().map(|r| match r { Ok(m) => serde_json::json!({"ok": true, "detail": m}), Err(m) => serde_json::json!({"ok": false, "detail": m}) }),
                "chain": certs.iter().map(|c| serde_json::json!({"subject": c.subject, "issuer": c.issuer, "serial": c.serial.to_string(), "not_after": crate::pki::inspect::when(c.not_after), "sha256": c.sha256})).collect::<Vec<_>>(),
                "ok": verdict.as_ref().is_none_or(|v| v.ok),
                "checks": verdict.as_ref().map(|v| v.checks.clone()).unwrap_or_default(),
                "files": written,
            });
            ctx.report
                .data(&format!("{}\n", serde_json::to_string_pretty(&j)?));
        }
        Mode::Human => {
            let mut out = format!(
                "{host}:{port} ({}): {} {}{}\n",
                info.addr,
                info.version,
                info.cipher,
                info.group
                    .as_deref()
                    .map(|g| format!(" {g}"))
                    .unwrap_or_default()
            );
            for (i, c) in certs.iter().enumerate() {
                out.push_str(&format!(
                    "  {i} subject {}\n    issuer  {}\n    serial {}  expires {}\n",
                    c.subject,
                    c.issuer,
                    c.serial,
                    crate::pki::inspect::when(c.not_after)
                ));
            }
            match &verdict {
                None => out.push_str(
                    "sslmode=require: the certificate is not checked (any server passes)\n",
                ),
                Some(v) => {
                    out.push_str(&crate::report::check_lines(&v.checks));
                }
            }
            match &info.startup {
                Some(Ok(m)) => out.push_str(&format!(
                    "ok   login     client certificate accepted: {m}\n"
                )),
                Some(Err(m)) => out.push_str(&format!("FAIL login     {m}\n")),
                None => {}
            }
            ctx.report.data(&crate::error::sanitize(&out));
        }
        Mode::Quiet => {}
    }
    if let Some(Err(m)) = &info.startup {
        return Err(anyhow!("{host}:{port} refused the client certificate: {m}"));
    }
    match verdict.as_ref().and_then(|v| v.first_failure()) {
        None => Ok(()),
        Some(f) => Err(anyhow!(
            "sslmode={sslmode} would fail for {host}: {}",
            f.detail
        )),
    }
}

/// The client key, unless it is one rustls's ring provider cannot sign with (RSA-PSS keys, which
/// `--key-type rsa-pss2048` makes): then an error that names the file and what to test it with.
fn rustls_can_sign_with(path: &std::path::Path, key: PrivateKey) -> anyhow::Result<PrivateKey> {
    if matches!(key.kind(), KeyKind::RsaPss(_)) {
        return Err(anyhow!(
            "{}: an {} key, which pgcert probe's TLS library (rustls) cannot sign with",
            path.display(),
            key.kind().describe()
        )
        .context(Hint::new(
            "test this client certificate with psql (sslcert=..., sslkey=...) or with \
             openssl s_client -starttls postgres -cert CERT -key KEY",
        )));
    }
    Ok(key)
}
