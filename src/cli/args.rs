//! Flag groups shared by commands: subject, SANs, validity, key type, template, outputs.
//! Single values are parsed by clap value parsers, so a bad value is a usage error (exit 2).

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use time::OffsetDateTime;

use crate::error::Hint;
use crate::passphrase::PassSource;
use crate::pki::issue::{CertSpec, Validity};
use crate::pki::key::{KeyType, PrivateKey};
use crate::pki::name::{San, Subject};
use crate::pki::profile::Profile;
use crate::report::Reporter;

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("'{s}' is not an RFC 3339 time like 2026-01-31T00:00:00Z ({e})"))
}

/// `--cn` / `--subj`.
#[derive(Debug, Clone, Args)]
pub struct SubjectArgs {
    /// Common name (CN): a host name for servers, the database user for clients.
    #[arg(long, value_name = "NAME", conflicts_with = "subj")]
    pub cn: Option<String>,
    /// Full subject in OpenSSL syntax, in order: "/O=PGDG/OU=Eng/OU=Test/CN=db"; '+' joins a multi-valued RDN, '\' escapes.
    #[arg(long, value_name = "SUBJECT", value_parser = |s: &str| s.parse::<Subject>())]
    pub subj: Option<Subject>,
}

impl SubjectArgs {
    /// The subject, or `default_cn` when neither flag is given (None: required).
    pub fn resolve(&self, default_cn: Option<&str>) -> Result<Subject> {
        if let Some(s) = &self.subj {
            return Ok(s.clone());
        }
        let cn = match (&self.cn, default_cn) {
            (Some(cn), _) => cn.as_str(),
            (None, Some(d)) => d,
            (None, None) => {
                return Err(anyhow!("a subject is required")
                    .context(Hint::new("give --cn NAME or --subj /CN=NAME")));
            }
        };
        Subject::from_cn(cn).map_err(|e| anyhow!("--cn {cn}: {e}"))
    }
}

/// `--san`, repeatable.
#[derive(Debug, Clone, Args)]
pub struct SanArgs {
    /// Subject alternative name: dns:NAME, ip:ADDR, or a bare value (IP if it parses as one).
    /// Repeatable.
    #[arg(long = "san", value_name = "SAN", value_parser = |s: &str| s.parse::<San>())]
    pub sans: Vec<San>,
}

/// `--days`, `--not-before`, `--not-after`.
#[derive(Debug, Clone, Args)]
pub struct ValidityArgs {
    /// Lifetime in days (defaults: root 3650, intermediate 1825, leaf 365, from the profile).
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Start of validity, RFC 3339 (default: now). Lets tests mint not-yet-valid certificates.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub not_before: Option<OffsetDateTime>,
    /// End of validity, RFC 3339; overrides --days. Lets tests mint expired certificates.
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "days")]
    pub not_after: Option<OffsetDateTime>,
}

impl ValidityArgs {
    /// A certificate of the built-in profile `name` for `subject` and `sans`, with this validity.
    pub fn spec(&self, name: &str, subject: Subject, sans: Vec<San>) -> Result<CertSpec> {
        let profile = Profile::builtin(name);
        let validity = self.resolve(&profile)?;
        Ok(CertSpec::new(profile, subject, sans, validity))
    }

    /// `spec` with the subject `/CN=cn`.
    pub fn spec_for_cn(&self, name: &str, cn: &str, sans: Vec<San>) -> Result<CertSpec> {
        let subject = Subject::from_cn(cn).map_err(|e| anyhow!("{cn}: {e}"))?;
        self.spec(name, subject, sans)
    }

    /// Resolve against a profile's default lifetime.
    pub fn resolve(&self, profile: &Profile) -> Result<Validity> {
        Validity::resolve(
            self.days,
            self.not_before,
            self.not_after,
            profile.default_days,
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| anyhow!("invalid validity: {e}"))
    }
}

/// `--key-type`.
#[derive(Debug, Clone, Args)]
pub struct KeyTypeArgs {
    /// Key type: ecdsa-p256, ecdsa-p384, ed25519, rsa2048, rsa3072, rsa4096, rsa-pss2048,
    /// rsa-pss3072
    /// (also rsa:2048, rsa:3072, rsa:4096, ec:P-256, ec:P-384).
    #[arg(long, value_name = "TYPE", default_value = "ecdsa-p256", value_parser = |s: &str| s.parse::<KeyType>())]
    pub key_type: KeyType,
}

impl KeyTypeArgs {
    /// Generate the key, with a spinner for slow types on a terminal.
    pub fn generate(&self, report: &Reporter) -> Result<PrivateKey> {
        let t = self.key_type;
        report
            .with_spinner(t.is_slow(), &format!("generating {t} key"), || {
                PrivateKey::generate(t)
            })
            .map_err(|e| anyhow!(e))
    }
}

/// `--template FILE`.
#[derive(Debug, Clone, Args)]
pub struct TemplateArgs {
    /// Use this profile file instead of the built-in one (see templates/ for the format).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
}

impl TemplateArgs {
    /// The profile: the user's file, or the built-in `name`.
    pub fn load(&self, name: &str) -> Result<Profile> {
        match &self.template {
            None => Ok(Profile::builtin(name)),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read the template {}", p.display()))?;
                Profile::parse(&text).map_err(|e| {
                    anyhow!("{}: {e}", p.display()).context(Hint::new(format!(
                        "start from the built-in one: templates/{name}.toml in the pgcert source"
                    )))
                })
            }
        }
    }
}

/// `--out DIR` and `--name BASE` for commands that write a file set.
#[derive(Debug, Clone, Args)]
pub struct OutArgs {
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Base name of the files written (e.g. --name alice gives alice.crt, alice.key).
    #[arg(long, value_name = "BASE", value_parser = parse_base)]
    pub name: Option<String>,
}

fn parse_base(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains('/') || s.starts_with('.') {
        Err("a base name is a plain file name without '/' and not starting with '.'".into())
    } else {
        Ok(s.to_string())
    }
}

/// `--print-connect KIND`, repeatable.
#[derive(Debug, Clone, Args)]
pub struct PrintConnectArgs {
    /// Print ready connection lines (sslmode=verify-full, the client certificate) for libpq,
    /// jdbc, node, python or go; repeatable.
    #[arg(long = "print-connect", value_name = "KIND", value_parser = crate::postgres::conf::CONNECT_KINDS)]
    pub kinds: Vec<String>,
}

impl PrintConnectArgs {
    /// The snippets for the kinds asked for.
    pub fn snippets(
        &self,
        input: &crate::postgres::conf::ConnectInput<'_>,
    ) -> Vec<crate::report::Snippet> {
        self.kinds
            .iter()
            .map(|k| crate::report::Snippet {
                title: format!("connect with {k} (sslmode=verify-full, client certificate)"),
                lines: crate::postgres::conf::connect_snippet(k, input),
            })
            .collect()
    }
}

/// `--owner USER`: give the files to another account.
#[derive(Debug, Clone, Args)]
pub struct OwnerArgs {
    /// Give the files (and directories pgcert creates) to this user and their primary group: a
    /// home directory's .postgresql when run as root, a replication or pooler account. Needs root.
    #[arg(long, value_name = "USER", value_parser = parse_owner)]
    pub owner: Option<crate::users::Account>,
}

fn parse_owner(s: &str) -> Result<crate::users::Account, String> {
    crate::users::by_name(s).ok_or_else(|| format!("no such user '{s}' in /etc/passwd"))
}

impl OwnerArgs {
    /// (uid, gid) to give files.
    pub fn ids(&self) -> Option<(u32, u32)> {
        self.owner.as_ref().map(|a| (a.uid, a.gid))
    }

    /// Without --owner, warn when a private key goes into a directory that belongs to someone
    /// else: the key will be this user's, 0600, and the directory's owner cannot read it.
    pub fn warn_if_foreign(&self, dir: &std::path::Path, report: &Reporter) {
        if self.owner.is_some() {
            return;
        }
        if let Some(other) = crate::users::foreign_owner_of(dir) {
            let me = crate::users::effective_uid()
                .and_then(crate::users::name_of)
                .unwrap_or_else(|| "you".into());
            report.warn(&format!(
                "{} belongs to {other}, but the key written there will belong to {me} (0600), so {other} cannot read it; pass --owner {other} to give the files to {other}",
                dir.display()
            ));
        }
    }
}

/// Read a private key file (PEM or DER; PKCS#8, PKCS#1, SEC1), asking for its passphrase
/// (`flag` names the option that gives it) when it is encrypted.
pub fn load_key(
    path: &std::path::Path,
    passin: Option<&PassSource>,
    flag: &str,
    report: &Reporter,
) -> Result<PrivateKey> {
    crate::passphrase::read_key(path, "key", passin, flag, |w| report.warn(w))
}

/// Parse a `--passin`/`--passout` value.
pub fn parse_pass(s: &str) -> Result<PassSource, String> {
    s.parse()
}

/// `--pgdata DIR [--config FILE] [--reload]`: write where a data directory's configuration
/// points, owned by its owner, then have the running server load the change.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Write where this PostgreSQL data directory's configuration points (ssl_cert_file,
    /// ssl_key_file, ssl_ca_file, ssl_crl_file / ssl_crl_dir), owned by the directory's owner.
    #[arg(long, value_name = "DIR")]
    pub pgdata: Option<PathBuf>,
    /// The server's postgresql.conf when it is not in the data directory (Debian:
    /// /etc/postgresql/15/main/postgresql.conf).
    #[arg(long, value_name = "FILE", requires = "pgdata")]
    pub config: Option<PathBuf>,
    /// Then reload the running server (as the data directory's owner) and wait until the
    /// change is in effect; exit 1 if it is not.
    #[arg(long, requires = "pgdata")]
    pub reload: bool,
}

impl ClusterArgs {
    /// The cluster named by --pgdata, if any.
    pub fn open(&self) -> Result<Option<crate::postgres::cluster::Cluster>> {
        let Some(d) = &self.pgdata else {
            return Ok(None);
        };
        crate::postgres::cluster::Cluster::open(d, self.config.as_deref())
            .map(Some)
            .map_err(|e| {
                anyhow!(e).context(Hint::new(
                    "give the directory initdb created, and --config FILE when postgresql.conf lives elsewhere",
                ))
            })
    }

    /// With --reload, reload and confirm; otherwise say how the server will pick it up.
    pub fn finish(
        &self,
        cluster: &crate::postgres::cluster::Cluster,
        expect: crate::postgres::cluster::Expect,
        notes: &mut Vec<String>,
    ) -> Result<()> {
        if self.reload {
            let c = cluster
                .reload(&expect, std::time::Duration::from_secs(15))
                .map_err(|e| {
                    anyhow!("the new files are in place, but {e}").context(Hint::new(format!(
                        "check the server's log; 'pgcert check --pgdata {}' names what it cannot use",
                        cluster.pgdata.display()
                    )))
                })?;
            notes.push(format!("reloaded: {}", c.how));
        } else {
            notes.push(format!(
                "the running server uses the new files after a reload: add --reload, or run 'pg_ctl reload -D {}'",
                cluster.pgdata.display()
            ));
        }
        notes.push("copies of these files elsewhere (a standby made with pg_basebackup, a pooler's TLS files, clients' root.crt) are not updated: refresh those too".into());
        Ok(())
    }
}

/// The directory and owner for quickstart's `--pgdata DIR` (must be a data directory: it has
/// PG_VERSION), else `out` with no owner change.
pub fn pgdata_or_out(
    pgdata: Option<&std::path::Path>,
    out: &std::path::Path,
) -> Result<(PathBuf, Option<(u32, u32)>)> {
    match pgdata {
        Some(d) => {
            if !d.join("PG_VERSION").exists() {
                return Err(anyhow!(
                    "{} is not a PostgreSQL data directory (no PG_VERSION)",
                    d.display()
                )
                .context(Hint::new("give the directory initdb created, or use --out")));
            }
            Ok((d.to_path_buf(), Some(crate::files::owner_of(d)?)))
        }
        None => Ok((out.to_path_buf(), None)),
    }
}
