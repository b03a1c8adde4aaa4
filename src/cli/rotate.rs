//! `pgcert rotate begin|switch|finish`: a root rotation that never locks a client out.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use clap::Subcommand;

use crate::ca::CaDir;
use crate::ca::revocation::{ChainCrl, CrlRequest, crl_chain};
use crate::cli::Ctx;
use crate::cli::args::{ClusterArgs, KeyTypeArgs};
use crate::error::Hint;
use crate::files::{self, Artefact, FileWrite, Overwrite, Written};
use crate::issuance::rotation::{self, BeginRequest, Stage, State};
use crate::issuance::{self, LeafRequest, LeafRole, Outputs, ServerFiles, SubjectKey};
use crate::pki::encoding::to_pem;
use crate::pki::inspect::CertInfo;
use crate::pki::issue::CertSpec;
use crate::pki::name::Subject;
use crate::postgres::cluster::{Cluster, Expect};
use crate::report::{CertSummary, Outcome};

const BEGIN_HELP: &str = "Stage 1 of 3. --ca is the CA that issues your server and client certificates now (an \
intermediate, or a root). Makes the new root in --new-root DIR and, when --ca is an intermediate, a new intermediate \
under it in --new-ca DIR (once: running begin again reuses them). Then writes the trust material of the overlap: \
OUT/root.crt with the old and the new roots (every client's sslrootcert / ~/.postgresql/root.crt, and the server's \
ssl_ca_file) and OUT/crl.pem with the CRLs of both chains (ssl_crl_file). With --pgdata those go straight to where the \
server's ssl_ca_file and ssl_crl_file / ssl_crl_dir point, and --reload makes it use them. The rotation's state is \
kept in --ca's directory (rotation.state). Next: hand OUT/root.crt to every client, issue new client certificates \
from the new CA (the server accepts both chains now), then run 'pgcert rotate switch'.

EXAMPLES:
  pgcert rotate begin --ca ca/pg --new-root ca/root2 --new-ca ca/pg2 --pgdata $PGDATA --reload
  pgcert rotate begin --ca ca/root --new-root ca/root2 --root-cn \"Example Root CA 2027\" --out trust/

EXIT CODES:
  0  success
  1  failure (a rotation to another root under way, directories that exist, reload not confirmed)
  2  bad usage";

const SWITCH_HELP: &str = "Stage 2 of 3. Re-issues the server certificate from the new CA with the same subject, SANs and \
key (read from the data directory's ssl_cert_file with --pgdata, or from --cert FILE, written to OUT/server.crt), so \
ssl_key_file is not touched; with --reload the server presents it before pgcert exits. Clients that trust only the \
old root can no longer verify it, unless --cross-sign: then the chain file also carries the new root cross-signed by \
the old root (kept as NEWROOT/cross-signed.pem and recorded in the old root's database), and every client connects, \
whichever root it trusts. Trust material and CRLs stay as begin wrote them (refreshed). Running switch again \
re-issues the certificate.

EXAMPLES:
  pgcert rotate switch --ca ca/pg --pgdata $PGDATA --cross-sign --reload
  pgcert rotate switch --ca ca/pg --cert /etc/postgresql/server.crt --out new/

EXIT CODES:
  0  success
  1  failure (no rotation begun, the old root unknown for --cross-sign, reload not confirmed)
  2  bad usage";

const FINISH_HELP: &str = "Stage 3 of 3, once every client trusts the new root (OUT/root.crt) and uses a client \
certificate of the new CA. Writes OUT/root.crt and OUT/crl.pem (and with --pgdata the server's ssl_ca_file and CRLs) \
for the new chain only, drops the cross-signed certificate from the server's chain file, and retires the old CA: \
pgcert refuses to issue from it afterwards. Clients still trusting only the old root, or presenting a certificate of \
the old CA, are refused from here on; each stage prints which clients connect.

EXAMPLES:
  pgcert rotate finish --ca ca/pg --pgdata $PGDATA --reload

EXIT CODES:
  0  success
  1  failure (not switched yet, reload not confirmed)
  2  bad usage";

/// `rotate` subcommands.
#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// Make the new root (and intermediate); trust both roots.
    #[command(after_long_help = BEGIN_HELP)]
    Begin(BeginArgs),
    /// Serve a certificate of the new chain (optionally cross-signed for old clients).
    #[command(after_long_help = SWITCH_HELP)]
    Switch(SwitchArgs),
    /// Trust only the new chain and retire the old CA.
    #[command(after_long_help = FINISH_HELP)]
    Finish(FinishArgs),
}

/// Flags of every stage.
#[derive(Debug, clap::Args)]
pub struct StageArgs {
    /// Directory for root.crt (clients' trust bundle, also usable as ssl_ca_file) and crl.pem.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Days until nextUpdate of the CRLs written.
    #[arg(long, value_name = "N", default_value_t = crate::ca::DEFAULT_CRL_DAYS)]
    crl_days: u32,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// `rotate begin`.
#[derive(Debug, clap::Args)]
pub struct BeginArgs {
    /// Directory of the new root CA.
    #[arg(long, value_name = "DIR")]
    new_root: PathBuf,
    /// Directory of the new intermediate CA (needed when --ca is an intermediate).
    #[arg(long, value_name = "DIR")]
    new_ca: Option<PathBuf>,
    /// CN of the new root (default: the old root's CN and this month, e.g. "Root CA 2026-12").
    #[arg(long, value_name = "NAME")]
    root_cn: Option<String>,
    /// CN of the new intermediate (default: the old one's and this month).
    #[arg(long, value_name = "NAME")]
    cn: Option<String>,
    #[command(flatten)]
    key_type: KeyTypeArgs,
    #[command(flatten)]
    stage: StageArgs,
}

/// `rotate switch`.
#[derive(Debug, clap::Args)]
pub struct SwitchArgs {
    /// Append the new root cross-signed by the old root to the chain file, so clients that
    /// trust only the old root still connect.
    #[arg(long)]
    cross_sign: bool,
    /// The server certificate to re-issue, without --pgdata (written to OUT/server.crt).
    #[arg(long, value_name = "FILE", conflicts_with = "pgdata")]
    cert: Option<PathBuf>,
    #[command(flatten)]
    stage: StageArgs,
}

/// `rotate finish`.
#[derive(Debug, clap::Args)]
pub struct FinishArgs {
    /// The server certificate file, without --pgdata (rewritten to OUT/server.crt).
    #[arg(long, value_name = "FILE", conflicts_with = "pgdata")]
    cert: Option<PathBuf>,
    #[command(flatten)]
    stage: StageArgs,
}

fn dated(cn: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{cn} {}-{:02}", now.year(), now.month() as u8)
}

/// Trust bundle and CRLs of a stage, to OUT and to the cluster's files.
fn publish(
    ctx: &Ctx,
    old: &CaDir,
    state: &State,
    stage: Stage,
    a: &StageArgs,
    cluster: Option<&Cluster>,
) -> Result<(Vec<CertInfo>, Vec<Written>)> {
    let (old_roots, new_roots) = rotation::roots(old, state)?;
    let roots: Vec<CertInfo> = if stage == Stage::Finished {
        new_roots
    } else {
        old_roots.into_iter().chain(new_roots).collect()
    };
    let mut dirs = Vec::new();
    if stage != Stage::Finished {
        dirs.push(old.dir().to_path_buf());
    }
    dirs.push(state.new_ca.clone());
    let now = time::OffsetDateTime::now_utc();
    let mut crls: Vec<ChainCrl> = Vec::new();
    for d in &dirs {
        let ca = ctx.open_ca(d)?;
        let (chain, _) = crl_chain(
            &ca,
            &CrlRequest {
                days: a.crl_days,
                this_only: false,
                parent_crls: &[],
                parent_override: None,
                now,
            },
            &|p: &Path| {
                ctx.report
                    .warn(&format!("waiting for lock on {}", p.display()))
            },
        )?;
        for c in chain {
            if !crls.iter().any(|x| x.ca.der == c.ca.der) {
                crls.push(c);
            }
        }
    }
    let bundle: String = roots.iter().map(CertInfo::pem).collect();
    let crl_pem: String = crls.iter().map(|c| to_pem("X509 CRL", &c.der)).collect();
    let trust = Overwrite::forced_or(ctx.force, Overwrite::SameKind(Artefact::TrustBundle));
    let crl = Overwrite::forced_or(ctx.force, Overwrite::SameKind(Artefact::Crl));
    files::create_dir(&a.out, files::MODE_DIR)?;
    let mut written = vec![
        files::write_one(FileWrite::public(
            a.out.join("root.crt"),
            bundle.clone().into_bytes(),
            "trust bundle",
            trust,
        ))?,
        files::write_one(FileWrite::public(
            a.out.join("crl.pem"),
            crl_pem.clone().into_bytes(),
            "CRL file",
            crl,
        ))?,
    ];
    if let Some(c) = cluster {
        let owner = Some(c.owner);
        match &c.settings.ca {
            Some(p) => written.push(files::write_one(
                FileWrite::public(p.clone(), bundle.into_bytes(), "ssl_ca_file", trust)
                    .owned_by(owner),
            )?),
            None => ctx.report.warn(&format!(
                "{} sets no ssl_ca_file: the server verifies no client certificate, so only the clients need {}",
                c.pgdata.display(),
                a.out.join("root.crt").display()
            )),
        }
        if let Some(p) = &c.settings.crl {
            written.push(files::write_one(
                FileWrite::public(p.clone(), crl_pem.into_bytes(), "ssl_crl_file", crl)
                    .owned_by(owner),
            )?);
        }
        if let Some(dir) = &c.settings.crl_dir {
            written.extend(crate::cli::crl::write_hashed(dir, &crls, crl, owner)?);
        }
    }
    Ok((roots, written))
}

/// The chain the server presents: its certificate file.
fn served(cluster: Option<&Cluster>, cert: Option<&Path>) -> Result<Option<Vec<CertInfo>>> {
    let path = match (cluster, cert) {
        (Some(c), _) => c.settings.cert.clone(),
        (None, Some(p)) => p.to_path_buf(),
        (None, None) => return Ok(None),
    };
    if !path.exists() {
        return Ok(None);
    }
    crate::ca::read_certs(&path).map(Some)
}

fn predictions(
    old: &CaDir,
    state: &State,
    chain: Option<&[CertInfo]>,
) -> Result<Vec<rotation::Prediction>> {
    let Some(chain) = chain.filter(|c| !c.is_empty()) else {
        return Ok(Vec::new());
    };
    let (old_roots, new_roots) = rotation::roots(old, state)?;
    let both: Vec<CertInfo> = old_roots.iter().chain(&new_roots).cloned().collect();
    Ok(rotation::predict(
        chain,
        &[
            ("only the old root", &old_roots),
            ("both roots", &both),
            ("only the new root", &new_roots),
        ],
    ))
}

/// Run.
pub fn run(ctx: &Ctx, cmd: RotateCommand) -> Result<()> {
    let old = ctx.open_ca(&ctx.ca)?;
    let waiting = |p: &Path| {
        ctx.report
            .warn(&format!("waiting for lock on {}", p.display()))
    };
    match cmd {
        RotateCommand::Begin(a) => {
            let cluster = a.stage.cluster.open()?;
            let signer = old.load_signer()?;
            let old_root = old
                .root_certs(&signer)?
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("{} has no root", old.dir().display()))?;
            let subject = |given: &Option<String>, from: &CertInfo| -> Result<Subject> {
                let cn = given
                    .clone()
                    .unwrap_or_else(|| dated(from.cn.as_deref().unwrap_or("PostgreSQL CA")));
                Subject::from_cn(&cn).map_err(|e| anyhow!("{cn}: {e}"))
            };
            let req = BeginRequest {
                new_root: &a.new_root,
                new_ca: a.new_ca.as_deref(),
                root_subject: subject(&a.root_cn, &old_root)?,
                ca_subject: subject(&a.cn, signer.cert())?,
                passin: ctx.ca_passin.clone(),
            };
            let mut keygen = || a.key_type.generate(&ctx.report);
            let (state, mut written) = rotation::begin(&old, req, &mut keygen, &waiting)?;
            let (_, w) = publish(ctx, &old, &state, Stage::Begun, &a.stage, cluster.as_ref())?;
            written.extend(w);
            let mut notes = vec![format!(
                "next: give {} to every client as sslrootcert (~/.postgresql/root.crt), issue client certificates from --ca {}, then run 'pgcert rotate switch'",
                a.stage.out.join("root.crt").display(),
                state.new_ca.display()
            )];
            if let Some(c) = &cluster {
                a.stage.cluster.finish(c, Expect::Reloaded, &mut notes)?;
            }
            let chain = served(cluster.as_ref(), None)?;
            finish(
                ctx,
                &old,
                &state,
                "rotate begin",
                written,
                vec![],
                chain.as_deref(),
                notes,
            )
        }
        RotateCommand::Switch(a) => {
            let cluster = a.stage.cluster.open()?;
            let mut state = require_stage(&old, &[Stage::Begun, Stage::Switched], "switch")?;
            let current = served(cluster.as_ref(), a.cert.as_deref())?.ok_or_else(|| {
                anyhow!("no server certificate to re-issue").context(Hint::new(
                    "give the data directory with --pgdata, or the certificate with --cert FILE",
                ))
            })?;
            let leaf = &current[0];
            let mut written = Vec::new();
            let mut extra = Vec::new();
            if a.cross_sign {
                let (cross, w) =
                    rotation::cross_sign(&old, &mut state, ctx.ca_passin.clone(), &waiting)?;
                written.extend(w);
                extra.push(cross);
            }
            let new_ca = ctx.open_ca(&state.new_ca)?;
            let spec = CertSpec::with_default_validity(
                "server",
                leaf.subject_name()
                    .map_err(|e| anyhow!("cannot reuse the subject of {}: {e}", leaf.subject))?,
                leaf.sans.clone(),
            )
            .map_err(|e| anyhow!(e))?;
            let mut outputs = server_outputs(cluster.as_ref(), &a.stage.out)?;
            outputs.extra_chain = extra;
            let r = issuance::issue_leaf(
                &new_ca,
                LeafRequest {
                    role: LeafRole::Server,
                    spec,
                    key: SubjectKey {
                        spki: leaf.spki.clone(),
                        rsa: leaf.key_kind.is_some_and(|k| k.is_rsa()),
                        private: None,
                    },
                    outputs: outputs.clone(),
                    allow_outlive: false,
                    revoke_old: None,
                },
                waiting,
            )?;
            written.extend(r.written);
            state.stage = Stage::Switched;
            written.push(state.write(&old)?);
            let (_, w) = publish(
                ctx,
                &old,
                &state,
                Stage::Switched,
                &a.stage,
                cluster.as_ref(),
            )?;
            written.extend(w);
            let mut notes = vec![format!(
                "next: once every client trusts the new root and has a client certificate of the new CA, run 'pgcert rotate finish'"
            )];
            if let Some(c) = &cluster {
                a.stage.cluster.finish(
                    c,
                    Expect::Serial(r.issued.cert.serial.to_string()),
                    &mut notes,
                )?;
            }
            let chain: Vec<CertInfo> = std::iter::once(r.issued.cert.clone())
                .chain(r.chain)
                .chain(outputs.extra_chain)
                .collect();
            let certs = vec![CertSummary::new(
                "server",
                Some(outputs_path(cluster.as_ref(), &a.stage.out)),
                &r.issued.cert,
            )];
            finish(
                ctx,
                &old,
                &state,
                "rotate switch",
                written,
                certs,
                Some(&chain),
                notes,
            )
        }
        RotateCommand::Finish(a) => {
            let cluster = a.stage.cluster.open()?;
            let mut state = require_stage(&old, &[Stage::Switched, Stage::Finished], "finish")?;
            let current = served(cluster.as_ref(), a.cert.as_deref())?.ok_or_else(|| {
                anyhow!("no server certificate to rewrite").context(Hint::new(
                    "give the data directory with --pgdata, or the certificate with --cert FILE",
                ))
            })?;
            let new_ca = ctx.open_ca(&state.new_ca)?;
            let signer = new_ca.load_signer()?;
            if !current[0].is_signed_by(signer.cert()) {
                return Err(anyhow!(
                    "the server certificate {} was not issued by the new CA {}",
                    current[0].subject,
                    state.new_ca.display()
                )
                .context(Hint::new("run 'pgcert rotate switch' first")));
            }
            // the chain without the cross-signed root: leaf and the new CA's intermediates
            let chain: Vec<CertInfo> = std::iter::once(current[0].clone())
                .chain(new_ca.chain_certs(&signer)?)
                .collect();
            let path = outputs_path(cluster.as_ref(), &a.stage.out);
            let mut written = vec![files::write_one(
                FileWrite::public(
                    path.clone(),
                    chain
                        .iter()
                        .map(CertInfo::pem)
                        .collect::<String>()
                        .into_bytes(),
                    "certificate chain",
                    Overwrite::Replace,
                )
                .owned_by(cluster.as_ref().map(|c| c.owner)),
            )?];
            let (_, w) = publish(
                ctx,
                &old,
                &state,
                Stage::Finished,
                &a.stage,
                cluster.as_ref(),
            )?;
            written.extend(w);
            state.stage = Stage::Finished;
            written.push(state.write(&old)?);
            let mut notes = vec![format!(
                "{} is retired: pgcert issues nothing more from it",
                old.dir().display()
            )];
            if let Some(c) = &cluster {
                a.stage.cluster.finish(c, Expect::Reloaded, &mut notes)?;
            }
            finish(
                ctx,
                &old,
                &state,
                "rotate finish",
                written,
                vec![],
                Some(&chain),
                notes,
            )
        }
    }
}

fn require_stage(old: &CaDir, allowed: &[Stage], what: &str) -> Result<State> {
    let s = State::read(old)?.ok_or_else(|| {
        anyhow!("no rotation of {} has begun", old.dir().display())
            .context(Hint::new("start with 'pgcert rotate begin'"))
    })?;
    if !allowed.contains(&s.stage) {
        return Err(anyhow!(
            "the rotation of {} is {}; {what} does not apply now",
            old.dir().display(),
            s.stage.word()
        )
        .context(Hint::new(match s.stage {
            Stage::Begun => "run 'pgcert rotate switch' first",
            _ => "the rotation is complete",
        })));
    }
    Ok(s)
}

fn outputs_path(cluster: Option<&Cluster>, out: &Path) -> PathBuf {
    match cluster {
        Some(c) => c.settings.cert.clone(),
        None => out.join("server.crt"),
    }
}

/// The server's certificate file (the key stays as it is; root.crt is the stage's bundle).
fn server_outputs(cluster: Option<&Cluster>, out: &Path) -> Result<Outputs> {
    let mut o = match cluster {
        Some(c) => Outputs::for_cluster(c, true),
        None => Outputs::in_dir(out.to_path_buf(), "server".into(), None, true),
    };
    o.server_files = Some(ServerFiles {
        cert: outputs_path(cluster, out),
        key: out.join("server.key.unused"),
        root: None,
    });
    Ok(o)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    ctx: &Ctx,
    old: &CaDir,
    state: &State,
    command: &str,
    files: Vec<Written>,
    certificates: Vec<CertSummary>,
    chain: Option<&[CertInfo]>,
    notes: Vec<String>,
) -> Result<()> {
    ctx.report.finish(&Outcome {
        command: command.into(),
        files,
        certificates,
        ca: Some(state.new_ca.clone()),
        clients: predictions(old, state, chain)?,
        stage: Some(state.stage.word().into()),
        notes,
        ..Default::default()
    });
    Ok(())
}
