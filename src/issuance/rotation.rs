//! Root (and intermediate) rotation in three resumable stages, its state kept in the old CA's
//! directory (`rotation.state`, `key = value` lines) so each stage can be run again:
//!
//! - begin: a new root, and a new intermediate under it when the old CA is an intermediate;
//!   from here the trust material (ssl_ca_file, clients' root.crt) holds the old and the new
//!   roots, and the CRL file the CRLs of both chains.
//! - switch: the server certificate re-issued under the new CA with its subject, SANs and key;
//!   optionally followed in the chain file by the new root cross-signed by the old root, so
//!   clients that trust only the old root still build a chain (OpenSSL looks for a trusted
//!   issuer first, so clients that trust the new root stop at it).
//! - finish: trust material and CRLs of the new chain only, the cross-signed certificate
//!   dropped from the chain file, and the old CA retired: pgcert issues nothing more from it.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use crate::ca::CaDir;
use crate::error::Hint;
use crate::files::{FileWrite, Overwrite, Written};
use crate::issuance::{self, CaRequest, LeafRequest, LeafRole, Outputs, ServerFiles, SubjectKey};
use crate::passphrase::PassSource;
use crate::pki::inspect::CertInfo;
use crate::pki::issue::CertSpec;
use crate::pki::key::PrivateKey;
use crate::pki::name::Subject;
use crate::pki::serial::Serial;
use crate::postgres::verify::{DEFAULT_SECURITY_LEVEL, Purpose, Request, verify};

/// The state file in the old CA's directory.
pub const STATE_FILE: &str = "rotation.state";

/// How far a rotation has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// New CAs made, both roots trusted.
    Begun,
    /// The server presents a certificate of the new chain.
    Switched,
    /// Only the new chain is trusted; the old CA is retired.
    Finished,
}

impl Stage {
    /// The word in the state file and in messages.
    pub fn word(self) -> &'static str {
        match self {
            Stage::Begun => "begun",
            Stage::Switched => "switched",
            Stage::Finished => "finished",
        }
    }
}

/// A rotation under way.
#[derive(Debug, Clone)]
pub struct State {
    /// Stage reached.
    pub stage: Stage,
    /// The new root CA directory (absolute).
    pub new_root: PathBuf,
    /// The new CA that issues leaves: the new intermediate, or the new root (absolute).
    pub new_ca: PathBuf,
    /// The new root cross-signed by the old root, once made.
    pub cross: Option<PathBuf>,
}

fn state_path(old: &CaDir) -> PathBuf {
    old.dir().join(STATE_FILE)
}

impl State {
    /// The rotation recorded in `old`, if any.
    pub fn read(old: &CaDir) -> Result<Option<State>> {
        let p = state_path(old);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(anyhow!(e).context(format!("cannot read {}", p.display()))),
        };
        let get = |k: &str| {
            text.lines().find_map(|l| {
                let (a, b) = l.split_once('=')?;
                (a.trim() == k).then(|| b.trim().to_string())
            })
        };
        let bad = |what: &str| {
            anyhow!("{}: no valid {what}", p.display()).context(Hint::new(
                "the file is written by 'pgcert rotate'; restore it or remove it to start over",
            ))
        };
        let stage = match get("stage").as_deref() {
            Some("begun") => Stage::Begun,
            Some("switched") => Stage::Switched,
            Some("finished") => Stage::Finished,
            _ => return Err(bad("stage")),
        };
        Ok(Some(State {
            stage,
            new_root: get("new_root")
                .map(PathBuf::from)
                .ok_or_else(|| bad("new_root"))?,
            new_ca: get("new_ca")
                .map(PathBuf::from)
                .ok_or_else(|| bad("new_ca"))?,
            cross: get("cross").filter(|s| !s.is_empty()).map(PathBuf::from),
        }))
    }

    /// Record it (atomically).
    pub fn write(&self, old: &CaDir) -> Result<Written> {
        let mut text = format!(
            "# written by pgcert rotate; the old CA of a root rotation\nstage = {}\nnew_root = {}\nnew_ca = {}\n",
            self.stage.word(),
            self.new_root.display(),
            self.new_ca.display()
        );
        if let Some(c) = &self.cross {
            text.push_str(&format!("cross = {}\n", c.display()));
        }
        crate::files::write_one(FileWrite::public(
            state_path(old),
            text.into_bytes(),
            "rotation state",
            Overwrite::Replace,
        ))
    }
}

/// Refuse to issue from a CA that `rotate finish` retired.
pub fn refuse_if_retired(ca: &CaDir) -> Result<()> {
    if let Some(s) = State::read(ca)?
        && s.stage == Stage::Finished
    {
        return Err(anyhow!(
            "{} was retired by 'pgcert rotate finish': clients no longer trust it",
            ca.dir().display()
        )
        .context(Hint::new(format!(
            "issue from the new CA: --ca {}",
            s.new_ca.display()
        ))));
    }
    Ok(())
}

/// Names and keys of the new CAs.
pub struct BeginRequest<'a> {
    /// Directory of the new root.
    pub new_root: &'a Path,
    /// Directory of the new intermediate (required when the old CA is an intermediate).
    pub new_ca: Option<&'a Path>,
    /// Subject of the new root.
    pub root_subject: Subject,
    /// Subject of the new intermediate.
    pub ca_subject: Subject,
    /// `--ca-passin` for the new directories' parent operations.
    pub passin: Option<PassSource>,
}

fn ca_spec(profile: &str, subject: Subject) -> Result<CertSpec> {
    CertSpec::with_default_validity(profile, subject, Vec::new()).map_err(|e| anyhow!(e))
}

/// Stage 1: make the new root (and intermediate) once; running it again while the rotation is
/// at this stage changes nothing. Returns the state and the files written.
pub fn begin(
    old: &CaDir,
    req: BeginRequest<'_>,
    keygen: &mut dyn FnMut() -> Result<PrivateKey>,
    waiting: &dyn Fn(&Path),
) -> Result<(State, Vec<Written>)> {
    if let Some(s) = State::read(old)? {
        if s.new_root != crate::files::absolute_or_given(req.new_root) {
            bail!(
                "a rotation of {} to {} is already under way (stage {})",
                old.dir().display(),
                s.new_root.display(),
                s.stage.word()
            );
        }
        if s.stage > Stage::Begun {
            return Err(anyhow!(
                "the rotation of {} is already {}; begin cannot be run again",
                old.dir().display(),
                s.stage.word()
            )
            .context(Hint::new(match s.stage {
                Stage::Switched => {
                    "run 'pgcert rotate finish' once every client trusts the new root"
                }
                _ => "the rotation is complete",
            })));
        }
        return Ok((s, Vec::new()));
    }
    let signer = old.load_signer()?;
    let old_is_root = signer.cert().is_self_issued();
    if !old_is_root && req.new_ca.is_none() {
        return Err(anyhow!(
            "{} is an intermediate CA: the new chain needs a new intermediate too",
            old.dir().display()
        )
        .context(Hint::new("give its directory with --new-ca DIR")));
    }
    for root in old.root_certs(&signer)? {
        if root.subject == req.root_subject.to_string() {
            return Err(anyhow!(
                "the new root would have the old root's subject {}: clients could not tell them apart",
                root.subject
            )
            .context(Hint::new("choose another --root-cn")));
        }
    }
    crate::ca::check_new_ca_dir(req.new_root)?;
    if let Some(d) = req.new_ca {
        crate::ca::check_new_ca_dir(d)?;
    }
    let mut written = Vec::new();
    let made = (|| -> Result<()> {
        let (_, w) = issuance::create_root(
            req.new_root,
            CaRequest {
                spec: ca_spec("root-ca", req.root_subject.clone())?,
                key: keygen()?,
                first_serial: Serial::random(),
                allow_outlive: false,
                key_passphrase: None,
            },
        )?;
        written.extend(w);
        if let Some(d) = req.new_ca {
            let root = CaDir::open(req.new_root)?.with_passin(req.passin.clone());
            let (_, w) = issuance::create_intermediate(
                &root,
                d,
                CaRequest {
                    spec: ca_spec("intermediate-ca", req.ca_subject.clone())?,
                    key: keygen()?,
                    first_serial: Serial::random(),
                    allow_outlive: false,
                    key_passphrase: None,
                },
                |p| waiting(p),
            )?;
            written.extend(w);
        }
        Ok(())
    })();
    if let Err(e) = made {
        for d in [req.new_ca, Some(req.new_root)].into_iter().flatten() {
            if d.join("cacert.pem").exists() {
                crate::files::remove_tree(d);
            }
        }
        return Err(e);
    }
    let new_root = crate::files::absolute_or_given(req.new_root);
    let state = State {
        stage: Stage::Begun,
        new_ca: req
            .new_ca
            .map(crate::files::absolute_or_given)
            .unwrap_or_else(|| new_root.clone()),
        new_root,
        cross: None,
    };
    written.push(state.write(old)?);
    Ok((state, written))
}

/// The old chain's roots and the new root.
pub fn roots(old: &CaDir, state: &State) -> Result<(Vec<CertInfo>, Vec<CertInfo>)> {
    let signer = old.load_signer()?;
    let old_roots = old.root_certs(&signer)?;
    let new_roots = vec![crate::ca::read_one_cert(
        &state.new_root.join("cacert.pem"),
    )?];
    Ok((old_roots, new_roots))
}

/// The new root cross-signed by the old root (made once, recorded in the old root's
/// database, kept beside the new root as `cross-signed.pem`).
pub fn cross_sign(
    old: &CaDir,
    state: &mut State,
    passin: Option<PassSource>,
    waiting: &dyn Fn(&Path),
) -> Result<(CertInfo, Vec<Written>)> {
    if let Some(p) = &state.cross
        && p.exists()
    {
        return Ok((crate::ca::read_one_cert(p)?, Vec::new()));
    }
    let signer = old.load_signer()?;
    let old_root_dir = if signer.cert().is_self_issued() {
        old.dir().to_path_buf()
    } else {
        crate::ca::revocation::parent_dir(old)?.ok_or_else(|| {
            anyhow!(
                "the old root's CA directory is not known ({} records no parent)",
                old.dir().display()
            )
            .context(Hint::new(
                "cross-signing needs the old root's key; run without --cross-sign",
            ))
        })?
    };
    let old_root = CaDir::open(&old_root_dir)?.with_passin(passin);
    let new_root = crate::ca::read_one_cert(&state.new_root.join("cacert.pem"))?;
    let path = state.new_root.join("cross-signed.pem");
    let spec = ca_spec(
        "root-ca",
        new_root
            .subject_name()
            .map_err(|e| anyhow!("the new root's subject: {e}"))?,
    )?;
    let r = issuance::issue_leaf(
        &old_root,
        LeafRequest {
            role: LeafRole::Cert,
            spec,
            key: SubjectKey {
                spki: new_root.spki.clone(),
                rsa: new_root.key_kind.is_some_and(|k| k.is_rsa()),
                private: None,
            },
            outputs: Outputs {
                server_files: Some(ServerFiles {
                    cert: path.clone(),
                    key: path.with_extension("unused"),
                    root: None,
                }),
                ..Outputs::in_dir(state.new_root.clone(), "cross-signed".into(), None, true)
            },
            allow_outlive: false,
            revoke_old: None,
        },
        |p| waiting(p),
    )?;
    state.cross = Some(path);
    let mut written = r.written;
    written.push(state.write(old)?);
    Ok((r.issued.cert, written))
}

/// What a population of clients will make of the chain a server presents.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    /// Which clients: "trusting only the old root" ...
    pub clients: String,
    /// They connect with sslmode=verify-ca (and verify-full, when the names match).
    pub connect: bool,
    /// Why not, when they do not.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Verify the presented chain as libpq would, for clients trusting each set of roots.
pub fn predict(served: &[CertInfo], populations: &[(&str, &[CertInfo])]) -> Vec<Prediction> {
    let now = time::OffsetDateTime::now_utc();
    populations
        .iter()
        .map(|(label, roots)| {
            let v = verify(&Request {
                leaf: &served[0],
                untrusted: &served[1..],
                roots,
                roots_label: label,
                host: None,
                user: None,
                crls: &[],
                purpose: Some(Purpose::Server),
                now,
                security_level: DEFAULT_SECURITY_LEVEL,
            });
            Prediction {
                clients: format!("clients trusting {label}"),
                connect: v.ok,
                detail: v
                    .first_failure()
                    .map(|f| f.detail.clone())
                    .unwrap_or_default(),
            }
        })
        .collect()
}
