//! The whole PostgreSQL set in one go: root CA, intermediate CA, a server and a client
//! certificate from the intermediate, the CRL file for `ssl_crl_file`, and the settings that
//! use them. On failure everything this run wrote is removed again.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use crate::ca::CaDir;
use crate::files::{self, FileWrite, Overwrite, Written};
use crate::issuance::set::{Content, FileSpec, Layout, Member, issue_set};
use crate::issuance::{self, CaRequest, LeafRole, Outputs, SubjectKey};
use crate::passphrase::PassSource;
use crate::pki::inspect::CertInfo;
use crate::pki::issue::CertSpec;
use crate::pki::key::PrivateKey;
use crate::pki::name::{San, Subject};
use crate::pki::serial::Serial;
use crate::postgres::conf::{Settings, SettingsInput, quickstart_settings};

/// What to make.
pub struct QuickstartRequest {
    /// The output directory (root-ca/, intermediate-ca/, client/, and server/ unless `server_dir`).
    pub out: PathBuf,
    /// Host names and addresses; the first is the server certificate's CN, all are SANs.
    pub hosts: Vec<String>,
    /// The client certificate's CN, the database user.
    pub user: String,
    /// Port for the printed connection string.
    pub port: u16,
    /// Where the server files go (a data directory, or out/server) and their owner.
    pub server_dir: PathBuf,
    /// Owner for the server files (`--pgdata`).
    pub owner: Option<(u32, u32)>,
    /// `--force`.
    pub force: bool,
    /// Validity of the CRLs in the CRL file (`--crl-days`).
    pub crl_days: u32,
}

/// What was made.
pub struct QuickstartResult {
    /// (role, file, certificate): root, intermediate, server, client.
    pub certificates: Vec<(&'static str, PathBuf, CertInfo)>,
    /// Every file written.
    pub written: Vec<Written>,
    /// The settings to paste.
    pub settings: Settings,
    /// The intermediate CA directory (it signs further certificates).
    pub inter_dir: PathBuf,
    /// The CRL file for ssl_crl_file.
    pub crl_path: PathBuf,
    /// When the first CRL in it lapses: the server refuses every client certificate from then.
    pub crl_next_update: Option<time::OffsetDateTime>,
}

fn spec(profile: &str, subject: Subject, sans: Vec<San>) -> Result<CertSpec> {
    CertSpec::with_default_validity(profile, subject, sans).map_err(|e| anyhow!(e))
}

/// Make the set. `keygen` makes each of the four keys.
pub fn quickstart(
    req: &QuickstartRequest,
    keygen: &mut dyn FnMut() -> Result<PrivateKey>,
    passin: Option<PassSource>,
    waiting: &dyn Fn(&Path),
) -> Result<QuickstartResult> {
    let sans = req
        .hosts
        .iter()
        .map(|h| h.parse::<San>().map_err(|e| anyhow!("--host {h}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let user_subject =
        Subject::from_cn(&req.user).map_err(|e| anyhow!("--user {}: {e}", req.user))?;
    let first_host = req.hosts.first().ok_or_else(|| anyhow!("no --host"))?;
    let server_subject =
        Subject::from_cn(first_host).map_err(|e| anyhow!("--host {first_host}: {e}"))?;
    let root_dir = req.out.join("root-ca");
    let inter_dir = req.out.join("intermediate-ca");
    let client_dir = req.out.join("client");
    let server_out = Outputs {
        dir: req.server_dir.clone(),
        base: "server".into(),
        owner: req.owner,
        force: req.force,
        server_files: None,
        extra_chain: Vec::new(),
        leaf_only: false,
    };
    let client_out = Outputs {
        dir: client_dir.clone(),
        base: "postgresql".into(),
        owner: None,
        force: req.force,
        server_files: None,
        extra_chain: Vec::new(),
        leaf_only: false,
    };
    let crl_path = req.server_dir.join("crl.pem");
    // refuse before making anything
    crate::ca::check_new_ca_dir(&root_dir)?;
    crate::ca::check_new_ca_dir(&inter_dir)?;
    server_out.precheck(LeafRole::Server, true)?;
    client_out.precheck(LeafRole::Client, true)?;
    files::Staging::precheck(&[(
        crl_path.as_path(),
        Overwrite::forced_or(req.force, Overwrite::Never),
    )])?;

    let mut written: Vec<Written> = Vec::new();
    let mut crl_next_update: Option<time::OffsetDateTime> = None;
    let open = |d: &Path| -> Result<CaDir> { Ok(CaDir::open(d)?.with_passin(passin.clone())) };
    let result = (|| -> Result<Vec<(&'static str, PathBuf, CertInfo)>> {
        let ca = |name: &str| Subject::from_cn(name).map_err(|e| anyhow!(e));
        let (root, w) = issuance::create_root(
            &root_dir,
            CaRequest {
                spec: spec("root-ca", ca("PostgreSQL quickstart Root CA")?, vec![])?,
                key: keygen()?,
                first_serial: Serial::random(),
                allow_outlive: false,
                key_passphrase: None,
            },
        )?;
        written.extend(w);
        let (inter, w) = issuance::create_intermediate(
            &open(&root_dir)?,
            &inter_dir,
            CaRequest {
                spec: spec(
                    "intermediate-ca",
                    ca("PostgreSQL quickstart Intermediate CA")?,
                    vec![],
                )?,
                key: keygen()?,
                first_serial: Serial::random(),
                allow_outlive: false,
                key_passphrase: None,
            },
            |d| waiting(d),
        )?;
        written.extend(w);
        let inter_ca = open(&inter_dir)?;
        let mut made = vec![
            ("root-ca", root_dir.join("cacert.pem"), root.cert),
            ("intermediate-ca", inter_dir.join("cacert.pem"), inter.cert),
        ];
        // the server and the client certificate and their files: one set, one transaction
        let sd = &req.server_dir;
        let server_file = |content, name: &str| FileSpec {
            owner: Some(req.owner),
            ..FileSpec::new(0, content, sd.join(name))
        };
        let layout = Layout {
            files: vec![
                server_file(Content::KeyPem, "server.key"),
                server_file(Content::Chain, "server.crt"),
                server_file(Content::Roots, "root.crt"),
                FileSpec::new(1, Content::KeyPem, client_dir.join("postgresql.key")),
                FileSpec::new(1, Content::KeyDer, client_dir.join("postgresql.pk8")),
                FileSpec::new(1, Content::Chain, client_dir.join("postgresql.crt")),
                FileSpec::new(1, Content::Roots, client_dir.join("root.crt")),
            ],
            owner: None,
            force: req.force,
        };
        let members = vec![
            Member {
                name: "server".into(),
                spec: spec("server", server_subject.clone(), sans.clone())?,
                key: SubjectKey::private(keygen()?),
            },
            Member {
                name: "client".into(),
                spec: spec("client", user_subject.clone(), vec![])?,
                key: SubjectKey::private(keygen()?),
            },
        ];
        let r = issue_set(&inter_ca, members, &layout, false, |d| waiting(d))?;
        written.extend(r.written);
        let mut issued = r.issued.into_iter();
        made.push((
            "server",
            sd.join("server.crt"),
            issued.next().expect("two members").cert,
        ));
        made.push((
            "client",
            client_dir.join("postgresql.crt"),
            issued.next().expect("two members").cert,
        ));
        // PostgreSQL sets CRL_CHECK_ALL: one CRL per CA of the chain, in one file, signed
        // now for --crl-days (this also refreshes the intermediate's crl.pem)
        let now = time::OffsetDateTime::now_utc();
        // (the CRLs it refreshes inside the two new CA directories go with them on failure)
        let (chain, _) = crate::ca::revocation::crl_chain(
            &inter_ca,
            &crate::ca::revocation::CrlRequest {
                days: req.crl_days,
                this_only: false,
                parent_crls: &[],
                parent_override: None,
                now,
            },
            waiting,
        )?;
        for c in &chain {
            let next = crate::pki::crl::crl_info(&c.der)
                .ok()
                .and_then(|i| i.next_update);
            crl_next_update = match (crl_next_update, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let crl: Vec<u8> = chain
            .iter()
            .map(|c| crate::pki::encoding::to_pem("X509 CRL", &c.der))
            .collect::<String>()
            .into_bytes();
        written.push(files::write_one(
            FileWrite::public(
                crl_path.clone(),
                crl,
                "CRL (intermediate + root)",
                Overwrite::forced_or(req.force, Overwrite::Never),
            )
            .owned_by(req.owner),
        )?);
        Ok(made)
    })();
    let certificates = match result {
        Ok(c) => c,
        Err(e) => {
            // leave nothing behind: files this run wrote, and the CA directories it created
            for w in written.iter().filter(|w| w.changed) {
                files::remove_placed(&w.path);
            }
            for d in [&inter_dir, &root_dir] {
                if d.join("cacert.pem").exists() && written.iter().any(|w| w.path.starts_with(d)) {
                    files::remove_tree(d);
                }
            }
            return Err(e);
        }
    };
    let abs = crate::files::absolute_or_given;
    let settings = quickstart_settings(&SettingsInput {
        server_cert: &abs(&req.server_dir.join("server.crt")),
        server_key: &abs(&req.server_dir.join("server.key")),
        server_ca: &abs(&req.server_dir.join("root.crt")),
        server_crl: &abs(&crl_path),
        host: first_host,
        port: req.port,
        user: &req.user,
        client_cert: &abs(&client_dir.join("postgresql.crt")),
        client_key: &abs(&client_dir.join("postgresql.key")),
        client_root: &abs(&client_dir.join("root.crt")),
    });
    Ok(QuickstartResult {
        certificates,
        written,
        settings,
        inter_dir,
        crl_path,
        crl_next_update,
    })
}
