//! The doctor: what PostgreSQL or libpq will refuse, found before they refuse it.
//!
//! Server side: the ssl settings of `postgresql.conf` (and `postgresql.auto.conf`, which
//! overrides it), relative paths resolved against the data directory as the server does; the
//! key file rule of be-secure-common.c; `ssl_cert_file` read like SSL_CTX_use_certificate_chain_file
//! (the first certificate must match the key, the rest are the chain sent to clients);
//! `ssl_ca_file`, `ssl_crl_file`, `ssl_crl_dir` as OpenSSL loads them (CRL_CHECK_ALL).
//! Client side: libpq's files (`~/.postgresql/postgresql.crt`, `postgresql.key`, `root.crt`,
//! `root.crl`, or PGSSLCERT, PGSSLKEY, PGSSLROOTCERT, PGSSLCRL) and its key file rule.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::pki::crl::crl_info;
use crate::pki::encoding;
use crate::pki::inspect::CertInfo;
use crate::pki::key::{KeyError, PrivateKey};
use crate::postgres::cluster::ServerSettings;
use crate::postgres::rules::{KeyOwner, check_key_file};
use crate::postgres::verify::{DEFAULT_SECURITY_LEVEL, Purpose, Request, verify};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// PostgreSQL or libpq will refuse (exit 1).
    Error,
    /// Will break soon or in some setups.
    Warning,
    /// Worth knowing; nothing breaks.
    Note,
    /// Checked and fine.
    Ok,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Severity.
    pub level: Level,
    /// The file concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// What is wrong (or right).
    pub message: String,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Within the critical expiry threshold (or already refused): a monitor pages someone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
}

/// When "soon" is: expiry thresholds for certificates and CRLs (`--warn-days`, `--crit-days`).
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    /// The moment judged.
    pub now: OffsetDateTime,
    /// A certificate ending within this is a warning.
    pub cert_warn: Duration,
    /// ... and within this, critical.
    pub cert_crit: Duration,
    /// A CRL whose nextUpdate is within this is a warning.
    pub crl_warn: Duration,
    /// ... and within this, critical.
    pub crl_crit: Duration,
}

impl Watch {
    /// Defaults: certificates 30 / 7 days; CRLs, which pgcert signs for 30 days and which a
    /// scheduled `pgcert crl` refreshes, 7 / 2 days.
    pub fn at(now: OffsetDateTime) -> Watch {
        Watch {
            now,
            cert_warn: Duration::days(30),
            cert_crit: Duration::days(7),
            crl_warn: Duration::days(7),
            crl_crit: Duration::days(2),
        }
    }
}

/// Something that ends: a certificate's notAfter or a CRL's nextUpdate, for monitors.
#[derive(Debug, Clone, Serialize)]
pub struct Expiry {
    /// "certificate" or "crl".
    pub kind: &'static str,
    /// The file it is in (or the server it was presented by).
    pub source: String,
    /// Subject of the certificate, issuer of the CRL.
    pub name: String,
    /// Serial (certificates) or CRL number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// notAfter / nextUpdate.
    #[serde(serialize_with = "rfc3339")]
    pub at: OffsetDateTime,
}

fn rfc3339<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::pki::inspect::when(*t))
}

/// A set of findings.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Findings in the order checked.
    pub findings: Vec<Finding>,
    /// Every certificate and CRL end seen, for monitors.
    pub expiries: Vec<Expiry>,
    /// The thresholds judged by.
    #[serde(skip)]
    pub watch: Watch,
}

impl Report {
    /// An empty report judged at `watch`.
    pub fn new(watch: Watch) -> Report {
        Report {
            findings: Vec::new(),
            expiries: Vec::new(),
            watch,
        }
    }

    fn add_critical(
        &mut self,
        level: Level,
        file: Option<&Path>,
        message: impl Into<String>,
        fix: Option<String>,
    ) {
        self.add(level, file, message, fix);
        if let Some(f) = self.findings.last_mut() {
            f.critical = true;
        }
    }

    /// Record a certificate's end and judge it (expired: error; within the thresholds:
    /// warning, critical within the critical one).
    pub fn judge_certificate(&mut self, source: &str, file: Option<&Path>, c: &CertInfo) {
        let w = self.watch;
        self.expiries.push(Expiry {
            kind: "certificate",
            source: source.to_string(),
            name: c.subject.clone(),
            serial: Some(c.serial.to_string()),
            at: c.not_after,
        });
        if w.now < c.not_before {
            self.add_critical(
                Level::Error,
                file,
                format!(
                    "{} is not valid until {}",
                    c.subject,
                    crate::pki::inspect::when(c.not_before)
                ),
                Some("check the clock, or issue it with an earlier --not-before".into()),
            );
        } else if w.now > c.not_after {
            self.add_critical(
                Level::Error,
                file,
                format!(
                    "{} expired on {}",
                    c.subject,
                    crate::pki::inspect::when(c.not_after)
                ),
                Some("renew it: pgcert renew --cert FILE".into()),
            );
        } else if c.not_after - w.now < w.cert_warn {
            let msg = format!(
                "{} expires in {} days ({})",
                c.subject,
                (c.not_after - w.now).whole_days(),
                crate::pki::inspect::when(c.not_after)
            );
            let fix = Some("renew it soon: pgcert renew --cert FILE".into());
            if c.not_after - w.now < w.cert_crit {
                self.add_critical(Level::Warning, file, msg, fix);
            } else {
                self.add(Level::Warning, file, msg, fix);
            }
        }
    }

    /// Record a CRL's nextUpdate and judge it (lapsed: error, since every certificate it
    /// covers is refused; within the thresholds: warning, critical within the critical one).
    pub fn judge_crl(&mut self, source: &str, file: Option<&Path>, i: &crate::pki::crl::CrlInfo) {
        let w = self.watch;
        let Some(n) = i.next_update else {
            return;
        };
        self.expiries.push(Expiry {
            kind: "crl",
            source: source.to_string(),
            name: i.issuer.clone(),
            serial: i.number.clone(),
            at: n,
        });
        if n <= w.now {
            self.add_critical(
                Level::Error,
                file,
                format!(
                    "the CRL of {} expired on {}: every certificate it covers is refused",
                    i.issuer,
                    crate::pki::inspect::when(n)
                ),
                Some("publish a new one: pgcert crl".into()),
            );
        } else if n - w.now < w.crl_warn {
            let msg = format!(
                "the CRL of {} expires on {}",
                i.issuer,
                crate::pki::inspect::when(n)
            );
            let fix = Some("run pgcert crl before then".into());
            if n - w.now < w.crl_crit {
                self.add_critical(Level::Warning, file, msg, fix);
            } else {
                self.add(Level::Warning, file, msg, fix);
            }
        }
    }

    /// Add a finding (errors are critical).
    pub fn add(
        &mut self,
        level: Level,
        file: Option<&Path>,
        message: impl Into<String>,
        fix: Option<String>,
    ) {
        self.findings.push(Finding {
            level,
            file: file.map(Path::to_path_buf),
            message: message.into(),
            fix,
            critical: level == Level::Error,
        });
    }
    /// How many errors.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .count()
    }
}

fn read_certs(r: &mut Report, path: &Path, what: &str) -> Option<Vec<CertInfo>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            r.add(
                Level::Error,
                Some(path),
                format!("cannot read the {what}: {e}"),
                Some("check the path and that the database user can read it".into()),
            );
            return None;
        }
    };
    let blocks = match encoding::blocks(&bytes) {
        Ok(b) => b,
        Err(e) => {
            r.add(
                Level::Error,
                Some(path),
                format!("the {what} is not PEM or DER: {e}"),
                None,
            );
            return None;
        }
    };
    let mut out = Vec::new();
    for b in blocks {
        if matches!(
            b.label.as_deref(),
            None | Some("CERTIFICATE") | Some("TRUSTED CERTIFICATE")
        ) {
            match CertInfo::parse(&b.der) {
                Ok(c) => out.push(c),
                Err(e) => r.add(
                    Level::Error,
                    Some(path),
                    format!("a certificate in the {what} is invalid: {e}"),
                    None,
                ),
            }
        } else {
            r.add(
                Level::Error,
                Some(path),
                format!(
                    "the {what} holds a {}, not a certificate",
                    b.label.unwrap_or_default()
                ),
                Some(format!("run 'pgcert show {}'", path.display())),
            );
        }
    }
    if out.is_empty() {
        r.add(
            Level::Error,
            Some(path),
            format!("the {what} holds no certificate"),
            None,
        );
        return None;
    }
    Some(out)
}

fn check_times(r: &mut Report, path: &Path, certs: &[CertInfo]) {
    for c in certs {
        r.judge_certificate(&path.display().to_string(), Some(path), c);
    }
}

/// Key file, key vs first certificate, order, CA flags, expiry: shared by both sides.
fn check_pair(
    r: &mut Report,
    cert_path: &Path,
    key_path: &Path,
    owner: Option<(KeyOwner, u32)>,
    can_decrypt: bool,
) -> Option<Vec<CertInfo>> {
    // the key file itself
    match std::fs::metadata(key_path) {
        Err(e) => r.add(
            Level::Error,
            Some(key_path),
            format!("could not access private key file: {e}"),
            None,
        ),
        Ok(m) if !m.is_file() => r.add(
            Level::Error,
            Some(key_path),
            "the private key file is not a regular file",
            None,
        ),
        Ok(m) => {
            if let Some((who, uid)) = owner {
                let readable = crate::users::readable_as(key_path, uid);
                match check_key_file(m.uid(), m.mode(), uid, who) {
                    Ok(()) if readable == Some(false) => r.add(
                        Level::Error,
                        Some(key_path),
                        format!(
                            "the owner and mode {:04o} pass the key rule, but {} ({}) cannot read the file: {} fails with \"Permission denied\"",
                            m.mode() & 0o7777,
                            if who == KeyOwner::Server { "the database user" } else { "the connecting user" },
                            crate::users::name_of(uid).unwrap_or_else(|| format!("uid {uid}")),
                            if who == KeyOwner::Server { "the server" } else { "libpq" }
                        ),
                        Some(format!(
                            "chown {} {} (or root-owned 0640 with a group that user is in)",
                            crate::users::name_of(uid).unwrap_or_else(|| uid.to_string()),
                            key_path.display()
                        )),
                    ),
                    Ok(()) => r.add(
                        Level::Ok,
                        Some(key_path),
                        format!(
                            "key file owner and mode {:04o} are accepted",
                            m.mode() & 0o7777
                        ),
                        None,
                    ),
                    Err(e) => r.add(
                        Level::Error,
                        Some(key_path),
                        format!("private key file {e}"),
                        Some(format!(
                            "chmod 600 {} (and chown it to the {})",
                            key_path.display(),
                            if who == KeyOwner::Server {
                                "database user"
                            } else {
                                "connecting user"
                            }
                        )),
                    ),
                }
            } else if m.mode() & 0o077 != 0 {
                r.add(
                    Level::Warning,
                    Some(key_path),
                    format!(
                        "the private key is readable by group or others (mode {:04o})",
                        m.mode() & 0o7777
                    ),
                    Some(format!("chmod 600 {}", key_path.display())),
                );
            }
        }
    }
    let key = match std::fs::read(key_path).map(|b| PrivateKey::from_bytes(&b)) {
        Ok(Ok(k)) => Some(k),
        Ok(Err(KeyError::Encrypted)) | Ok(Err(KeyError::LegacyEncrypted)) => {
            if can_decrypt {
                r.add(
                    Level::Note,
                    Some(key_path),
                    "the key is encrypted; ssl_passphrase_command supplies the passphrase",
                    None,
                );
            } else {
                r.add(Level::Warning, Some(key_path), "the key is encrypted and nothing supplies its passphrase", Some("set ssl_passphrase_command (server) or sslpassword (libpq), or 'pgcert key decrypt' it".into()));
            }
            None
        }
        Ok(Err(e)) => {
            r.add(
                Level::Error,
                Some(key_path),
                format!("cannot load the private key: {e}"),
                None,
            );
            None
        }
        Err(_) => None,
    };
    let certs = read_certs(r, cert_path, "certificate file")?;
    if let Some(k) = &key {
        let spki = k.spki_der();
        if certs[0].spki == spki {
            r.add(
                Level::Ok,
                Some(cert_path),
                format!(
                    "the first certificate ({}) matches the key",
                    certs[0].subject
                ),
                None,
            );
        } else if let Some(pos) = certs.iter().position(|c| c.spki == spki) {
            r.add(Level::Error, Some(cert_path), format!("the key belongs to certificate {} ({}), but the first certificate must be the key's", pos + 1, certs[pos].subject), Some("put the leaf first, then the intermediates: pgcert bundle FILE --out FILE".into()));
        } else {
            r.add(
                Level::Error,
                Some(cert_path),
                format!(
                    "certificate does not match private key file {}",
                    key_path.display()
                ),
                Some("use the certificate issued for this key".into()),
            );
        }
    }
    for i in 0..certs.len().saturating_sub(1) {
        if !certs[i].is_signed_by(&certs[i + 1]) {
            r.add(Level::Error, Some(cert_path), format!("the chain is out of order: certificate {} ({}) did not issue certificate {} ({})", i + 2, certs[i + 1].subject, i + 1, certs[i].subject), Some("order it leaf first: pgcert bundle FILE --out FILE".into()));
            break;
        }
        if !certs[i + 1].can_sign_certificates() {
            r.add(
                Level::Error,
                Some(cert_path),
                format!(
                    "{} is in the chain but is not a CA (CA:TRUE with keyCertSign)",
                    certs[i + 1].subject
                ),
                None,
            );
        }
    }
    check_times(r, cert_path, &certs);
    Some(certs)
}

fn read_crls(r: &mut Report, path: &Path) -> Vec<crate::pki::crl::CrlInfo> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            r.add(
                Level::Error,
                Some(path),
                format!("cannot read the CRL: {e}"),
                None,
            );
            return vec![];
        }
    };
    let mut out = Vec::new();
    for b in encoding::blocks(&bytes).unwrap_or_default() {
        match crl_info(&b.der) {
            Ok(i) => {
                r.judge_crl(&path.display().to_string(), Some(path), &i);
                out.push(i);
            }
            Err(e) => r.add(Level::Error, Some(path), format!("not a CRL: {e}"), None),
        }
    }
    out
}

/// Check a server's TLS files. `db_uid` is the database user's uid (the data directory's owner).
pub fn check_server(s: &ServerSettings, db_uid: u32, watch: Watch) -> Report {
    let now = watch.now;
    let mut r = Report::new(watch);
    if !s.ssl {
        r.add(
            Level::Warning,
            s.sources.first().map(PathBuf::as_path),
            "ssl is off: the server does not use these files",
            Some("set ssl = on".into()),
        );
    }
    let chain = check_pair(
        &mut r,
        &s.cert,
        &s.key,
        Some((KeyOwner::Server, db_uid)),
        s.passphrase_command,
    );
    let roots =
        s.ca.as_ref()
            .and_then(|ca| read_certs(&mut r, ca, "ssl_ca_file"));
    if let Some(roots) = &roots {
        check_times(&mut r, s.ca.as_deref().expect("set"), roots);
    }
    if let Some(chain) = &chain {
        let last = chain.last().expect("non-empty");
        if chain.len() > 1 && last.is_self_issued() {
            r.add(Level::Note, Some(&s.cert), format!("the certificate file includes the root {}; clients must have it anyway, so it is not needed there (harmless)", last.subject), None);
        }
        // what clients are given to trust: the self-signed roots of ssl_ca_file (pgcert writes
        // the same root.crt for clients); an intermediate is never a usable sslrootcert
        let client_roots: Vec<CertInfo> = roots
            .iter()
            .flatten()
            .filter(|c| c.is_self_issued())
            .cloned()
            .collect();
        if client_roots.is_empty() {
            r.add(Level::Note, Some(&s.cert), format!("clients need the root above {} ({}) as sslrootcert; ssl_ca_file does not hold it, so pgcert cannot check that they can complete the chain", last.subject, last.issuer), None);
        } else {
            let label = format!(
                "the roots of ssl_ca_file ({})",
                s.ca.as_deref()
                    .expect("roots come from ssl_ca_file")
                    .display()
            );
            let v = verify(&Request {
                leaf: &chain[0],
                untrusted: &chain[1..],
                roots: &client_roots,
                roots_label: &label,
                host: None,
                user: None,
                crls: &[],
                purpose: Some(Purpose::Server),
                now,
                security_level: DEFAULT_SECURITY_LEVEL,
            });
            match v.first_failure() {
                None => r.add(Level::Ok, Some(&s.cert), format!("clients with {label} as sslrootcert can verify the chain ({})", v.chain.join(" <- ")), None),
                Some(f) => r.add(Level::Error, Some(&s.cert), format!("clients with {label} as sslrootcert cannot verify this certificate (certificate verify failed): {}", f.detail), Some(if f.name == "chain" { "put the leaf and every intermediate up to the root in the certificate file: pgcert bundle LEAF INTERMEDIATE --out FILE (clients need only the root)".to_string() } else { "re-issue the certificate: pgcert issue server".to_string() })),
            }
        }
    }
    let mut covered: Vec<String> = Vec::new();
    if let Some(crl) = &s.crl {
        covered.extend(read_crls(&mut r, crl).into_iter().map(|i| i.issuer));
    }
    if let Some(dir) = &s.crl_dir {
        match std::fs::read_dir(dir) {
            Err(e) => r.add(
                Level::Error,
                Some(dir),
                format!("could not load SSL certificate revocation list directory: {e}"),
                None,
            ),
            Ok(rd) => {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.len() > 9 && name.as_bytes()[8] == b'.' && name[9..].starts_with('r') {
                        covered.extend(read_crls(&mut r, &e.path()).into_iter().map(|i| i.issuer));
                    }
                }
            }
        }
    }
    if s.crl.is_some() || s.crl_dir.is_some() {
        for root in roots.iter().flatten() {
            if !covered.contains(&root.subject) {
                r.add(Level::Error, s.crl.as_deref().or(s.crl_dir.as_deref()), format!("no CRL for {}: with a CRL configured, OpenSSL needs one for every CA of a client's chain, so clients are refused (unable to get certificate CRL)", root.subject), Some("use the file 'pgcert crl' writes: it holds a CRL for every CA above".into()));
            }
        }
    }
    r
}

/// libpq's files, from a directory and the PGSSL* variables.
#[derive(Debug, Clone)]
pub struct ClientFiles {
    /// sslcert.
    pub cert: PathBuf,
    /// sslkey.
    pub key: PathBuf,
    /// sslrootcert.
    pub root: PathBuf,
    /// sslcrl.
    pub crl: PathBuf,
}

impl ClientFiles {
    /// `dir/postgresql.crt` etc., overridden by PGSSLCERT, PGSSLKEY, PGSSLROOTCERT, PGSSLCRL.
    pub fn from_dir(dir: &Path) -> ClientFiles {
        let env = |v: &str, default: &str| {
            std::env::var_os(v)
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join(default))
        };
        ClientFiles {
            cert: env("PGSSLCERT", "postgresql.crt"),
            key: env("PGSSLKEY", "postgresql.key"),
            root: env("PGSSLROOTCERT", "root.crt"),
            crl: env("PGSSLCRL", "root.crl"),
        }
    }
}

/// Check a client's files as libpq would use them; `uid` is the connecting user's.
pub fn check_client(f: &ClientFiles, uid: u32, watch: Watch) -> Report {
    let now = watch.now;
    let mut r = Report::new(watch);
    let mut chain = None;
    if f.cert.exists() {
        if !f.key.exists() {
            r.add(
                Level::Error,
                Some(&f.key),
                "certificate present, but not private key file",
                Some("put the key beside it, or set PGSSLKEY / sslkey".into()),
            );
        } else {
            chain = check_pair(
                &mut r,
                &f.cert,
                &f.key,
                Some((KeyOwner::Client, uid)),
                false,
            );
        }
    } else {
        r.add(
            Level::Note,
            Some(&f.cert),
            "no client certificate: libpq sends none (fine unless the server requires one)",
            None,
        );
    }
    if f.root.exists() {
        if let Some(roots) = read_certs(&mut r, &f.root, "root certificate file") {
            check_times(&mut r, &f.root, &roots);
            if let Some(chain) = &chain {
                let label = f.root.display().to_string();
                let v = verify(&Request {
                    leaf: &chain[0],
                    untrusted: &chain[1..],
                    roots: &roots,
                    roots_label: &label,
                    host: None,
                    user: None,
                    crls: &[],
                    purpose: Some(Purpose::Client),
                    now,
                    security_level: DEFAULT_SECURITY_LEVEL,
                });
                match v.first_failure() {
                    None => r.add(Level::Ok, Some(&f.cert), "the client certificate chains to root.crt", None),
                    Some(c) => r.add(Level::Warning, Some(&f.cert), format!("the client certificate does not verify against {}: {}", f.root.display(), c.detail), Some("the server checks it against its ssl_ca_file, which may differ; keep the intermediates in postgresql.crt".into())),
                }
            }
        }
    } else {
        r.add(
            Level::Warning,
            Some(&f.root),
            "root certificate file does not exist: sslmode=verify-ca and verify-full will fail",
            Some("copy the server's root certificate there (pgcert issue client writes it)".into()),
        );
    }
    if f.crl.exists() {
        read_crls(&mut r, &f.crl);
    }
    r
}

/// A certificate and key given directly (`check --cert F --key F`).
pub fn check_files(cert: &Path, key: &Path, watch: Watch) -> Report {
    let mut r = Report::new(watch);
    check_pair(&mut r, cert, key, None, false);
    r
}

/// Watch a CA directory: its certificate and the CAs above it, the CRLs in crl.pem, and the
/// valid certificates of index.txt that are the newest for their subject (an older one a
/// renewal superseded is not worth an alert).
pub fn check_ca_database(ca: &crate::ca::CaDir, watch: Watch) -> Report {
    let mut r = Report::new(watch);
    let cacert = ca.cacert();
    match crate::ca::read_certs(&cacert) {
        Ok(certs) => check_times(&mut r, &cacert, &certs),
        Err(e) => r.add(Level::Error, Some(&cacert), format!("{e:#}"), None),
    }
    let chain = ca.chain();
    if chain.exists()
        && let Ok(certs) = crate::ca::read_certs(&chain)
    {
        let above: Vec<CertInfo> = certs
            .into_iter()
            .filter(|c| {
                crate::ca::read_certs(&cacert)
                    .map_or(true, |own| own.iter().all(|o| o.der != c.der))
            })
            .collect();
        check_times(&mut r, &chain, &above);
    }
    let crl = ca.crl();
    if crl.exists() {
        read_crls(&mut r, &crl);
    } else {
        r.add(
            Level::Note,
            Some(&crl),
            "no CRL published yet",
            Some("pgcert crl".into()),
        );
    }
    let index = ca.index();
    match crate::ca::index::read_index(&index) {
        Err(e) => r.add(Level::Error, Some(&index), format!("{e:#}"), None),
        Ok(entries) => {
            let valid: Vec<(&crate::ca::index::IndexEntry, OffsetDateTime)> = entries
                .iter()
                .filter(|e| e.status == crate::ca::index::Status::Valid)
                .filter_map(|e| {
                    crate::ca::index::parse_asn1_time(&e.expiry)
                        .ok()
                        .map(|t| (e, t))
                })
                .collect();
            for (e, end) in &valid {
                let newest = valid
                    .iter()
                    .filter(|(o, _)| o.subject == e.subject)
                    .all(|(_, t)| t <= end);
                if !newest {
                    continue;
                }
                let source = format!("{} serial {}", index.display(), e.serial);
                r.expiries.push(Expiry {
                    kind: "certificate",
                    source: source.clone(),
                    name: e.subject.clone(),
                    serial: Some(e.serial.clone()),
                    at: *end,
                });
                let left = *end - watch.now;
                if left <= Duration::ZERO {
                    r.add(
                        Level::Note,
                        Some(&index),
                        format!(
                            "{} (serial {}) expired on {}",
                            e.subject,
                            e.serial,
                            crate::pki::inspect::when(*end)
                        ),
                        Some("renew it if it is still in use: pgcert renew SERIAL".into()),
                    );
                } else if left < watch.cert_warn {
                    let msg = format!(
                        "{} (serial {}) expires in {} days ({})",
                        e.subject,
                        e.serial,
                        left.whole_days(),
                        crate::pki::inspect::when(*end)
                    );
                    let fix = Some(format!("pgcert renew {}", e.serial));
                    if left < watch.cert_crit {
                        r.add_critical(Level::Warning, Some(&index), msg, fix);
                    } else {
                        r.add(Level::Warning, Some(&index), msg, fix);
                    }
                }
            }
        }
    }
    r
}
