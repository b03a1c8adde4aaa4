//! `pgcert export k8s`: a cluster's certificates as the Kubernetes Secrets a PostgreSQL operator
//! reads. Each operator is one table entry (`SHAPES`): its Secrets, their types and keys, the
//! labels, the key encoding, the service names its server certificate must carry, the user of
//! its replication certificate, and the spec fragment that names the Secrets.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use base64::Engine;

use crate::cli::Ctx;
use crate::cli::args::{KeyTypeArgs, ValidityArgs};
use crate::files::{FileWrite, Overwrite};
use crate::issuance::SubjectKey;
use crate::issuance::set::{Layout, Member, issue_set};
use crate::pki::inspect::CertInfo;
use crate::pki::name::San;
use crate::report::{CertSummary, Outcome};

pub(crate) const HELP: &str = "Issues the server certificate (with every service name the operator's Services answer to) and the \
replication client certificate from --ca, and writes Kubernetes Secret manifests (YAML, base64 data) in the shape the \
operator reads, followed by the Cluster spec fragment that names them. --out is written 0600: the manifests hold private \
keys. The CA's private key is not exported unless --include-ca-key (then the operator can issue certificates itself; \
CloudNativePG reads an ECDSA CA key in SEC1 'EC PRIVATE KEY' form, which is what pgcert writes).
Operators: cnpg (CloudNativePG, user-provided certificates: serverCASecret and clientCASecret with ca.crt, serverTLSSecret \
and replicationTLSSecret of type kubernetes.io/tls with tls.crt and tls.key, every Secret labelled cnpg.io/reload so the \
operator reloads PostgreSQL when it changes; server names <cluster>-rw, -ro, -r and their .<namespace> and \
.<namespace>.svc forms; replication user streaming_replica); zalando (Zalando postgres-operator: one kubernetes.io/tls \
Secret named by spec.tls.secretName with tls.crt, tls.key and ca.crt (caFile); server names <cluster> and <cluster>-repl \
in every namespace form; no replication certificate: the operator's standby user logs in with a password); pgo (Crunchy \
PGO v5: spec.customTLSSecret and spec.customReplicationTLSSecret, each with tls.crt, tls.key and the same ca.crt; server \
CN <cluster>-primary, names <cluster>-primary and -replicas in every namespace form; replication user _crunchyrepl, which \
PGO's pg_hba admits with cert authentication only); percona (Percona Operator for PostgreSQL 2.x, a PGO fork: the same \
Secrets, named under spec.secrets).

EXAMPLES:
  pgcert export k8s --for cnpg --cluster pg-main --namespace db --ca ca/pg --out pg-main-tls.yaml
  pgcert export k8s --for cnpg --cluster pg-main --ca ca/pg --include-ca-key | kubectl apply -f -
  pgcert export k8s --for zalando --cluster acid-main --namespace db --ca ca/pg --out acid-main-tls.yaml
  pgcert export k8s --for pgo --cluster hippo --namespace postgres-operator --ca ca/pg --out hippo-tls.yaml

EXIT CODES:
  0  success
  1  failure (no CA, --out exists without --force, --include-ca-key with a key the operator cannot read)
  2  bad usage";

/// `export` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ExportCommand {
    /// Kubernetes Secret manifests for a PostgreSQL operator.
    #[command(after_long_help = HELP)]
    K8s(K8sArgs),
}

/// `export k8s` flags.
#[derive(Debug, clap::Args)]
pub struct K8sArgs {
    /// The operator: cnpg (CloudNativePG), zalando, pgo (Crunchy PGO v5), percona.
    #[arg(long = "for", value_name = "OPERATOR", value_parser = ["cnpg", "zalando", "pgo", "percona"])]
    operator: String,
    /// The operator's cluster name.
    #[arg(long, value_name = "NAME")]
    cluster: String,
    /// The namespace.
    #[arg(long, value_name = "NS", default_value = "default")]
    namespace: String,
    /// Also put the CA's private key in the CA Secrets.
    #[arg(long)]
    include_ca_key: bool,
    /// Write here (0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    validity: ValidityArgs,
    #[command(flatten)]
    key_type: KeyTypeArgs,
}

/// What goes under one key of a Secret.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// The CA's root certificate(s).
    CaCert,
    /// The CA's private key (only with --include-ca-key).
    CaKey,
    /// The server certificate and the CA's intermediates.
    ServerChain,
    /// The server key.
    ServerKey,
    /// The replication certificate and the CA's intermediates.
    ReplicaChain,
    /// The replication key.
    ReplicaKey,
}

struct SecretShape {
    /// Name: `<cluster>` + suffix.
    suffix: &'static str,
    /// Secret type.
    kind: &'static str,
    /// Spec field that names it, below the shape's `spec_path` (dots nest: `a.name`).
    field: &'static str,
    keys: &'static [(&'static str, Part)],
}

struct Shape {
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    /// The user of the replication certificate, when the operator takes one.
    replication_user: Option<&'static str>,
    /// Service suffixes of the cluster name the server certificate must answer to.
    services: &'static [&'static str],
    /// Where the spec fragment puts the Secret names.
    spec_path: &'static [&'static str],
    /// Further fields of that spec fragment.
    spec_extra: &'static [(&'static str, &'static str)],
    secrets: &'static [SecretShape],
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "cnpg",
        labels: &[("cnpg.io/reload", "")],
        replication_user: Some("streaming_replica"),
        services: &["-rw", "-ro", "-r"],
        spec_path: &["spec", "certificates"],
        spec_extra: &[],
        secrets: &[
            SecretShape {
                suffix: "-server-ca",
                kind: "Opaque",
                field: "serverCASecret",
                keys: &[("ca.crt", Part::CaCert), ("ca.key", Part::CaKey)],
            },
            SecretShape {
                suffix: "-server-tls",
                kind: "kubernetes.io/tls",
                field: "serverTLSSecret",
                keys: &[("tls.crt", Part::ServerChain), ("tls.key", Part::ServerKey)],
            },
            SecretShape {
                suffix: "-client-ca",
                kind: "Opaque",
                field: "clientCASecret",
                keys: &[("ca.crt", Part::CaCert), ("ca.key", Part::CaKey)],
            },
            SecretShape {
                suffix: "-replication",
                kind: "kubernetes.io/tls",
                field: "replicationTLSSecret",
                keys: &[
                    ("tls.crt", Part::ReplicaChain),
                    ("tls.key", Part::ReplicaKey),
                ],
            },
        ],
    },
    // Zalando postgres-operator: one Secret named by spec.tls.secretName holding the server
    // certificate and key (certificateFile / privateKeyFile default to tls.crt / tls.key) and, for
    // clients' verify-full, the CA (caFile); services <cluster> and <cluster>-repl. Replication
    // uses its own password user, not a certificate.
    Shape {
        name: "zalando",
        labels: &[],
        replication_user: None,
        services: &["", "-repl"],
        spec_path: &["spec", "tls"],
        spec_extra: &[("caFile", "ca.crt")],
        secrets: &[SecretShape {
            suffix: "-tls",
            kind: "kubernetes.io/tls",
            field: "secretName",
            keys: &[
                ("tls.crt", Part::ServerChain),
                ("tls.key", Part::ServerKey),
                ("ca.crt", Part::CaCert),
            ],
        }],
    },
    // Crunchy PGO v5 (docs: tutorial "Customize TLS"; the CRD reference): customTLSSecret and
    // customReplicationTLSSecret, both with tls.crt, tls.key and the same ca.crt, mounted at
    // /pgconf/tls; the server CN is the primary Service's name; the replication user is
    // _crunchyrepl, admitted by `hostssl replication "_crunchyrepl" all cert`.
    Shape {
        name: "pgo",
        labels: &[],
        replication_user: Some("_crunchyrepl"),
        services: &["-primary", "-replicas"],
        spec_path: &["spec"],
        spec_extra: &[],
        secrets: PGO_SECRETS,
    },
    // Percona Operator for PostgreSQL 2.x (docs: "Generate certificates manually"): PGO's
    // Secrets, named under spec.secrets.
    Shape {
        name: "percona",
        labels: &[],
        replication_user: Some("_crunchyrepl"),
        services: &["-primary", "-replicas"],
        spec_path: &["spec", "secrets"],
        spec_extra: &[],
        secrets: PGO_SECRETS,
    },
];

const PGO_SECRETS: &[SecretShape] = &[
    SecretShape {
        suffix: "-tls",
        kind: "Opaque",
        field: "customTLSSecret.name",
        keys: &[
            ("ca.crt", Part::CaCert),
            ("tls.crt", Part::ServerChain),
            ("tls.key", Part::ServerKey),
        ],
    },
    SecretShape {
        suffix: "-replication-tls",
        kind: "Opaque",
        field: "customReplicationTLSSecret.name",
        keys: &[
            ("ca.crt", Part::CaCert),
            ("tls.crt", Part::ReplicaChain),
            ("tls.key", Part::ReplicaKey),
        ],
    },
];

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Run.
pub fn run(ctx: &Ctx, cmd: ExportCommand) -> Result<()> {
    let ExportCommand::K8s(a) = cmd;
    let shape = SHAPES
        .iter()
        .find(|s| s.name == a.operator)
        .expect("clap allows only known operators");
    match &a.out {
        Some(o) => {
            crate::files::Staging::precheck(&[(
                o.as_path(),
                Overwrite::forced_or(ctx.force, Overwrite::Never),
            )])?;
            // the certificates are recorded before the file is written: make sure it can be
            let dir = crate::files::parent_dir(o);
            if !dir.is_dir() {
                return Err(anyhow!(
                    "cannot write {}: {} is not a directory",
                    o.display(),
                    dir.display()
                )
                .context(crate::error::Hint::new(
                    "create the directory first, or choose another --out",
                )));
            }
        }
        None if ctx.report.mode() == crate::report::Mode::Json => {
            return Err(anyhow!(
                "--json describes the files written, but without --out the manifests go to stdout"
            )
            .context(crate::error::Hint::new("add --out FILE")));
        }
        None => {}
    }
    let ca = ctx.open_ca(&ctx.ca)?;
    let ca_key: Option<String> = if a.include_ca_key {
        let signer = ca.load_signer()?;
        Some(signer.key().sec1_pem().map_err(|e| {
            anyhow!("--include-ca-key: {e}: the operator reads ECDSA CA keys (SEC1)")
        })?)
    } else {
        None
    };
    let (c, ns) = (&a.cluster, &a.namespace);
    let mut names: Vec<String> = Vec::new();
    for s in shape.services {
        names.push(format!("{c}{s}"));
        names.push(format!("{c}{s}.{ns}"));
        names.push(format!("{c}{s}.{ns}.svc"));
        names.push(format!("{c}{s}.{ns}.svc.cluster.local"));
    }
    let sans = names
        .iter()
        .map(|n| n.parse::<San>().map_err(|e| anyhow!("{n}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let server_key = a.key_type.generate(&ctx.report)?;
    let replica_key = a.key_type.generate(&ctx.report)?;
    let keep = (server_key.pkcs8_pem(), replica_key.pkcs8_pem());
    let mut members = vec![Member {
        name: "server".into(),
        spec: a.validity.spec_for_cn("server", &names[0], sans)?,
        key: SubjectKey::private(server_key),
    }];
    if let Some(user) = shape.replication_user {
        members.push(Member {
            name: "replication".into(),
            spec: a.validity.spec_for_cn("client", user, Vec::new())?,
            key: SubjectKey::private(replica_key),
        });
    }
    // the manifests are the set's only file: recorded and written in one transaction
    let r = issue_set(
        &ca,
        members,
        &Layout::default(),
        ctx.allow_outlive,
        ctx.waiting(),
    )?;
    let chain_of = |c: &CertInfo| -> String {
        std::iter::once(c)
            .chain(r.chain.iter())
            .map(CertInfo::pem)
            .collect()
    };
    let roots: String = r.roots.iter().map(CertInfo::pem).collect();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let mut yaml = String::from(
        "# written by pgcert export k8s: Secrets with private keys; keep this file private\n",
    );
    for sec in shape.secrets {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {}\n  namespace: {}\n",
            quote(&format!("{c}{}", sec.suffix)),
            quote(ns)
        ));
        if !shape.labels.is_empty() {
            yaml.push_str("  labels:\n");
            for (k, v) in shape.labels {
                yaml.push_str(&format!("    {}: {}\n", quote(k), quote(v)));
            }
        }
        yaml.push_str(&format!("type: {}\ndata:\n", quote(sec.kind)));
        for (key, part) in sec.keys {
            let value = match part {
                Part::CaCert => Some(roots.clone()),
                Part::CaKey => ca_key.clone(),
                Part::ServerChain => Some(chain_of(&r.issued[0].cert)),
                Part::ServerKey => Some(keep.0.clone()),
                Part::ReplicaChain => r.issued.get(1).map(|i| chain_of(&i.cert)),
                Part::ReplicaKey => Some(keep.1.clone()),
            };
            if let Some(v) = value {
                yaml.push_str(&format!("  {}: {}\n", quote(key), b64(&v)));
            }
        }
    }
    // the spec fragment that names them
    yaml.push_str("---\n# the Cluster spec fragment that uses these Secrets\n");
    let mut indent = 0;
    for p in shape.spec_path {
        yaml.push_str(&format!("# {}{p}:\n", "  ".repeat(indent)));
        indent += 1;
    }
    for sec in shape.secrets {
        let path: Vec<&str> = sec.field.split('.').collect();
        let (leaf, nest) = path.split_last().expect("split yields one part at least");
        for (depth, p) in nest.iter().enumerate() {
            yaml.push_str(&format!("# {}{p}:\n", "  ".repeat(indent + depth)));
        }
        yaml.push_str(&format!(
            "# {}{leaf}: {}\n",
            "  ".repeat(indent + nest.len()),
            quote(&format!("{c}{}", sec.suffix))
        ));
    }
    for (k, v) in shape.spec_extra {
        yaml.push_str(&format!("# {}{k}: {}\n", "  ".repeat(indent), quote(v)));
    }
    let mut files = Vec::new();
    match &a.out {
        Some(o) => files.push(crate::files::write_one(FileWrite::key(
            o.clone(),
            yaml.into_bytes(),
            Overwrite::forced_or(ctx.force, Overwrite::Never),
        ))?),
        None => ctx.report.data(&yaml),
    }
    let outcome = Outcome {
        command: "export k8s".into(),
        certificates: r
            .issued
            .iter()
            .zip(["server", "replication"])
            .map(|(i, role)| CertSummary::new(role, None, &i.cert))
            .collect(),
        files,
        ca: Some(ctx.ca.clone()),
        notes: vec![format!(
            "the server certificate answers to {}",
            names.join(", ")
        )],
        ..Default::default()
    };
    if a.out.is_some() {
        ctx.report.finish(&outcome);
    } else {
        for n in &outcome.notes {
            ctx.report.status(n);
        }
    }
    Ok(())
}
