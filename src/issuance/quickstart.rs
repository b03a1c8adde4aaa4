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
    /// The key type of all four keys.
    pub key_type: crate::pki::key::KeyType,
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

/// The set as a `mint` plan: what quickstart makes in a new (or empty) `--out`.
fn plan_text(req: &QuickstartRequest) -> String {
    use toml::{Table, Value};
    let table = |pairs: &[(&str, Value)]| -> Value {
        Value::Table(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<Table>(),
        )
    };
    let s = |v: &str| Value::String(v.into());
    let list = |v: &[&str]| Value::Array(v.iter().map(|x| s(x)).collect());
    let hosts: Vec<&str> = req.hosts.iter().map(String::as_str).collect();
    let mut t = Table::new();
    t.insert(
        "defaults".into(),
        table(&[
            ("key_type", s(req.key_type.name())),
            ("crl_days", Value::Integer(i64::from(req.crl_days))),
        ]),
    );
    t.insert(
        "ca".into(),
        Value::Array(vec![
            table(&[
                ("name", s("root")),
                ("cn", s("PostgreSQL quickstart Root CA")),
                ("dir", s("root-ca")),
            ]),
            table(&[
                ("name", s("inter")),
                ("parent", s("root")),
                ("cn", s("PostgreSQL quickstart Intermediate CA")),
                ("dir", s("intermediate-ca")),
            ]),
        ]),
    );
    t.insert(
        "leaf".into(),
        Value::Array(vec![
            table(&[
                ("name", s("server")),
                ("ca", s("inter")),
                ("profile", s("server")),
                ("cn", s(hosts[0])),
                ("san", list(&hosts)),
                ("cert", s("server/server.crt")),
                ("key", s("server/server.key")),
            ]),
            table(&[
                ("name", s("client")),
                ("ca", s("inter")),
                ("profile", s("client")),
                ("cn", s(&req.user)),
                ("cert", s("client/postgresql.crt")),
                ("key", s("client/postgresql.key")),
            ]),
        ]),
    );
    t.insert(
        "key".into(),
        Value::Array(vec![table(&[
            ("from", s("client")),
            ("out", s("client/postgresql.pk8")),
            ("format", s("der")),
        ])]),
    );
    t.insert(
        "bundle".into(),
        Value::Array(vec![
            table(&[("out", s("server/root.crt")), ("certs", list(&["root"]))]),
            table(&[("out", s("client/root.crt")), ("certs", list(&["root"]))]),
            table(&[
                ("out", s("server/crl.pem")),
                ("crls", list(&["inter", "root"])),
            ]),
        ]),
    );
    toml::to_string(&t).expect("a TOML table serializes")
}

/// The fast path: a new (or empty) `--out` holding everything, server files included, made as
/// one tree by `mint` (keys in parallel, one flush, one rename).
fn quickstart_as_tree(req: &QuickstartRequest) -> Result<QuickstartResult> {
    let text = plan_text(req);
    let plan = super::mint::read_plan(Path::new("(quickstart)"), &text)?;
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let owner = req.owner;
    let made = super::mint::mint(&plan, &req.out, jobs, &|_, _| {}, &|rel| {
        rel.starts_with("server").then_some(owner).flatten()
    })?;
    let cert_of = |name: &str| {
        made.certificates
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, c)| c.clone())
            .expect("the plan makes it")
    };
    let inter_dir = req.out.join("intermediate-ca");
    let root_dir = req.out.join("root-ca");
    let client_dir = req.out.join("client");
    let certificates = vec![
        ("root-ca", root_dir.join("cacert.pem"), cert_of("root")),
        (
            "intermediate-ca",
            inter_dir.join("cacert.pem"),
            cert_of("inter"),
        ),
        (
            "server",
            req.server_dir.join("server.crt"),
            cert_of("server"),
        ),
        (
            "client",
            client_dir.join("postgresql.crt"),
            cert_of("client"),
        ),
    ];
    let crl_path = req.server_dir.join("crl.pem");
    let crl_next_update = std::fs::read(&crl_path)
        .ok()
        .and_then(|b| crate::pki::encoding::blocks(&b).ok())
        .into_iter()
        .flatten()
        .filter_map(|b| crate::pki::crl::crl_info(&b.der).ok()?.next_update)
        .min();
    Ok(QuickstartResult {
        settings: settings(req, &client_dir, &crl_path),
        certificates,
        written: made.files,
        inter_dir,
        crl_path,
        crl_next_update,
    })
}

fn settings(req: &QuickstartRequest, client_dir: &Path, crl_path: &Path) -> Settings {
    let abs = crate::files::absolute_or_given;
    quickstart_settings(&SettingsInput {
        server_cert: &abs(&req.server_dir.join("server.crt")),
        server_key: &abs(&req.server_dir.join("server.key")),
        server_ca: &abs(&req.server_dir.join("root.crt")),
        server_crl: &abs(crl_path),
        host: req.hosts.first().map_or("", String::as_str),
        port: req.port,
        user: &req.user,
        client_cert: &abs(&client_dir.join("postgresql.crt")),
        client_key: &abs(&client_dir.join("postgresql.key")),
        client_root: &abs(&client_dir.join("root.crt")),
    })
}

/// Make the set: as one new tree when it can be, else (a server directory elsewhere, an `--out`
/// that holds files, `--force`) file by file through the CA databases. Either way the four keys
/// are made in parallel.
pub fn quickstart(
    req: &QuickstartRequest,
    passin: Option<PassSource>,
    waiting: &dyn Fn(&Path),
) -> Result<QuickstartResult> {
    if req.server_dir == req.out.join("server")
        && !req.force
        && !req.hosts.is_empty()
        && (!req.out.exists() || super::mint::is_empty_dir(&req.out))
    {
        return quickstart_as_tree(req);
    }
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut keys = super::mint::par_map(
        &[req.key_type; 4],
        jobs,
        |t| PrivateKey::generate(*t),
        &|| {},
    )
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| anyhow!(e))?
    .into_iter();
    let mut keygen = || -> Result<PrivateKey> { keys.next().ok_or_else(|| anyhow!("four keys")) };
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
    let settings = settings(req, &client_dir, &crl_path);
    Ok(QuickstartResult {
        certificates,
        written,
        settings,
        inter_dir,
        crl_path,
        crl_next_update,
    })
}
