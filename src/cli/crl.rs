//! `pgcert crl`: sign the CA's CRL, with the CRLs of the CAs above it, for `ssl_crl_file`;
//! `--crl-dir` writes them under `openssl rehash` names for `ssl_crl_dir`.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use crate::ca::revocation::{ChainCrl, CrlRequest, crl_chain};
use crate::cli::Ctx;
use crate::cli::args::ClusterArgs;
use crate::error::Hint;
use crate::files::{self, Artefact, FileWrite, Overwrite, Written};
use crate::pki::crl::crl_info;
use crate::pki::encoding::{self, to_pem};
use crate::postgres::cluster::Expect;
use crate::report::{CrlSummary, Outcome};

pub(crate) const HELP: &str = "Signs a CRL of every certificate the database marks revoked, numbered from crlnumber (then \
advanced), valid for --days (default 30), with the CA's key identifier as AKI. PostgreSQL and libpq check a CRL for \
every CA of a chain once a CRL is configured, root included, and refuse everyone when one is missing or expired; so \
for an intermediate the file holds this CA's CRL followed by a fresh CRL of each CA above it. pgcert signs those when \
it holds their directory (recorded by init-ca --parent, or --parent DIR); for a CA signed elsewhere give its current \
CRL with --parent-crl FILE. --this-only writes just this CA's CRL.
DIR/crl.pem is always refreshed (PEM); --out writes a copy (DER with --der, which holds one CRL: use --this-only). \
--crl-dir DIR writes one PEM file per CA named <subject-hash>.r0 (.r1... when two CAs share a hash), as \
`openssl rehash` does, for ssl_crl_dir and sslcrldir. Re-run before nextUpdate: an expired CRL locks everyone out. \
Re-running replaces the --out file and the hashed files in place (atomically, no --force needed) when they hold \
CRLs; a file of any other kind there is refused unless --force.

With --pgdata DIR the CRLs go where that data directory's ssl_crl_file and ssl_crl_dir point (read from its \
postgresql.conf, or --config FILE), owned by its owner; --reload then reloads the running server and waits until it \
has re-read its configuration (exit 1 if it has not within 15 s).

EXAMPLES:
  pgcert crl --ca ca/pg --pgdata $PGDATA --reload
  pgcert crl --ca ca/pg --out /etc/postgresql/root+pg.crl
  pgcert crl --ca ca/pg --crl-dir $PGDATA/crl.d
  pgcert crl --ca ca/pg --parent-crl corporate-root.crl --days 7

EXIT CODES:
  0  success
  1  failure (no CA, a CA above without a CRL, an expired --parent-crl)
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("destination").args(["pgdata", "out"])))]
pub struct Args {
    /// Days until nextUpdate.
    #[arg(long, default_value_t = crate::ca::DEFAULT_CRL_DAYS)]
    days: u32,
    /// Also write the CRL file here.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write --out as DER (one CRL; needs --this-only unless the CA is a root).
    #[arg(long, requires = "out")]
    der: bool,
    /// Write one <hash>.rN file per CA into this directory, for ssl_crl_dir.
    #[arg(long, value_name = "DIR")]
    crl_dir: Option<PathBuf>,
    /// Only this CA's CRL, not the CAs above it.
    #[arg(long)]
    this_only: bool,
    /// Current CRL of a CA above that pgcert does not hold (PEM or DER); repeatable.
    #[arg(long, value_name = "FILE")]
    parent_crl: Vec<PathBuf>,
    /// The parent CA directory (default: the one recorded by init-ca --parent).
    #[arg(long, value_name = "DIR")]
    parent: Option<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// The `<hash>.rN` name for a CRL in `dir`: the existing file of the same issuer, else the
/// first free N.
fn hashed_name(dir: &Path, crl: &ChainCrl) -> anyhow::Result<PathBuf> {
    let hash = crate::pki::hash::cert_subject_hash(&crl.ca.der).map_err(|e| anyhow!(e))?;
    for n in 0.. {
        let p = dir.join(format!("{hash}.r{n}"));
        let Ok(bytes) = std::fs::read(&p) else {
            return Ok(p);
        };
        let same_issuer = encoding::blocks(&bytes)
            .ok()
            .and_then(|b| b.into_iter().next())
            .and_then(|b| crl_info(&b.der).ok())
            .is_some_and(|i| i.issuer == crl.ca.subject);
        if same_issuer {
            return Ok(p);
        }
    }
    unreachable!("some N is free")
}

/// Write each CRL into `dir` under its `openssl rehash` name (ssl_crl_dir, sslcrldir).
pub(crate) fn write_hashed(
    dir: &Path,
    crls: &[ChainCrl],
    overwrite: Overwrite,
    owner: Option<(u32, u32)>,
) -> anyhow::Result<Vec<Written>> {
    crls.iter()
        .map(|c| {
            files::write_one(
                FileWrite::public(
                    hashed_name(dir, c)?,
                    to_pem("X509 CRL", &c.der).into_bytes(),
                    "CRL (hashed name)",
                    overwrite,
                )
                .owned_by(owner),
            )
        })
        .collect()
}

/// Run.
pub fn run(ctx: &Ctx, mut a: Args) -> anyhow::Result<()> {
    let cluster = a.cluster.open()?;
    if let Some(c) = &cluster {
        // the server's own CRL settings decide where the CRLs go
        if a.crl_dir.is_some() || a.der {
            return Err(anyhow!("--pgdata writes where the server's ssl_crl_file and ssl_crl_dir point; --crl-dir and --der do not apply")
                .context(Hint::new("drop --crl-dir / --der, or drop --pgdata")));
        }
        let s = &c.settings;
        if s.crl.is_none() && s.crl_dir.is_none() {
            return Err(anyhow!(
                "{} sets neither ssl_crl_file nor ssl_crl_dir, so the server checks no CRL",
                s.sources
                    .first()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the configuration".into())
            )
            .context(Hint::new(
                "set ssl_crl_file = 'root+pg.crl' in postgresql.conf first (a relative name is in the data directory), or write the file with --out",
            )));
        }
        a.out = s.crl.clone();
        a.crl_dir = s.crl_dir.clone();
    }
    let owner = cluster.as_ref().map(|c| c.owner);
    let ca = ctx.open_ca(&ctx.ca)?;
    let mut parent_crls = Vec::new();
    for f in &a.parent_crl {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        let blocks = encoding::blocks(&bytes).map_err(|e| anyhow!("{}: {e}", f.display()))?;
        for b in blocks {
            match b.label.as_deref() {
                None | Some("X509 CRL") => parent_crls.push(b.der),
                Some(other) => {
                    return Err(anyhow!("{} holds a {other}, not an X509 CRL", f.display())
                        .context(Hint::new("give the CRL file of the CA above")));
                }
            }
        }
    }
    // a CRL is regenerated on a schedule: refreshing one needs no --force
    let crl_overwrite = Overwrite::forced_or(ctx.force, Overwrite::SameKind(Artefact::Crl));
    if let Some(o) = &a.out {
        files::Staging::precheck(&[(o.as_path(), crl_overwrite)])?;
        // a CRL number is spent only when the file can be written
        let dir = files::parent_dir(o);
        if !dir.is_dir() {
            return Err(anyhow!(
                "cannot write {}: {} is not a directory",
                o.display(),
                dir.display()
            )
            .context(Hint::new(
                "create the directory first, or choose another --out",
            )));
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let waiting = |d: &Path| {
        ctx.report
            .warn(&format!("waiting for lock on {}", d.display()))
    };
    let req = CrlRequest {
        days: a.days,
        this_only: a.this_only,
        parent_crls: &parent_crls,
        parent_override: a.parent.as_deref(),
        now,
    };
    if a.der && !a.this_only {
        let signer = ca.load_signer()?;
        if !signer.cert().is_self_issued() {
            return Err(
                anyhow!("--der holds one CRL, but this CA's chain needs several")
                    .context(Hint::new("add --this-only, or use PEM (the default)")),
            );
        }
    }
    // the CRL directory must be usable before a CRL number is spent
    let created = match &a.crl_dir {
        Some(dir) => files::create_dir_owned(dir, files::MODE_DIR, owner)?,
        None => Vec::new(),
    };
    let (chain, mut written): (Vec<ChainCrl>, Vec<Written>) =
        crl_chain(&ca, &req, &waiting).inspect_err(|_| files::remove_created_dirs(&created))?;
    if let Some(o) = &a.out {
        let bytes = if a.der {
            chain[0].der.clone()
        } else {
            chain
                .iter()
                .map(|c| to_pem("X509 CRL", &c.der))
                .collect::<String>()
                .into_bytes()
        };
        written.push(files::write_one(
            FileWrite::public(o.clone(), bytes, "CRL", crl_overwrite).owned_by(owner),
        )?);
    }
    if let Some(dir) = &a.crl_dir {
        written.extend(write_hashed(dir, &chain, crl_overwrite, owner)?);
    }
    let mut crls = Vec::new();
    let mut notes = Vec::new();
    for c in &chain {
        let info = crl_info(&c.der).map_err(|e| anyhow!(e))?;
        if let Some(next) = info.next_update
            && !c.fresh
            && next - now < time::Duration::days(7)
        {
            ctx.report.warn(&format!(
                "the CRL of {} (from --parent-crl) expires on {}; get a new one before then, or PostgreSQL refuses every client",
                info.issuer,
                crate::pki::inspect::when(next)
            ));
        }
        crls.push(CrlSummary {
            issuer: info.issuer.clone(),
            number: info.number.clone(),
            revoked: info.revoked.len(),
            this_update: crate::pki::inspect::when(info.this_update),
            next_update: info.next_update.map(crate::pki::inspect::when),
            fresh: c.fresh,
            issuer_hash: info.issuer_hash.clone(),
        });
    }
    notes.push(format!(
        "use it as ssl_crl_file = '{}' (or sslcrl for clients); run 'pgcert crl' again within {} days",
        a.out.as_ref().unwrap_or(&ca.crl()).display(),
        a.days
    ));
    if let Some(c) = &cluster {
        a.cluster.finish(c, Expect::Reloaded, &mut notes)?;
    }
    ctx.report.finish(&Outcome {
        command: "crl".into(),
        files: written,
        ca: Some(ctx.ca.clone()),
        crls,
        notes,
        ..Default::default()
    });
    Ok(())
}
