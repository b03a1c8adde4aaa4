//! `pgcert bundle`: order certificates into leaf -> intermediates (-> root), or collect
//! roots into one trust bundle (`--trust`).

use std::path::PathBuf;

use anyhow::anyhow;

use crate::ca::read_certs;
use crate::cli::Ctx;
use crate::cli::args::ClusterArgs;
use crate::error::Hint;
use crate::files::{self, Artefact, FileWrite, Overwrite};
use crate::pki::chain;
use crate::pki::inspect::CertInfo;
use crate::postgres::cluster::Expect;
use crate::report::{CertSummary, Outcome};

pub(crate) const HELP: &str = "Without --trust: reads every certificate in the files (PEM, any number per file, or DER), in any \
order, and writes the chain leaf first, each certificate followed by its issuer, verifying every signature. The root is \
left out unless --include-root (server.crt must not need it). A missing issuer is an error that names it.
With --trust: every certificate must be a self-signed root; duplicates are dropped. Use it for root.crt or ssl_ca_file \
during a root rotation, when old and new roots must both be trusted. A trust bundle replaces a trust bundle \
(CA certificates only) at --out in place, without --force; a chain never replaces a file without --force.
With --as-given: the certificates in the order given, each checked to parse, nothing reordered or dropped (a CA file \
with a root and sibling intermediates, as PostgreSQL's own test suite uses). Without --out the result goes to stdout. --trust --pgdata DIR writes the server's ssl_ca_file (read from the data \
directory's postgresql.conf, or --config FILE), owned by the directory's owner; --reload then reloads the running \
server and waits until it has re-read its configuration.

EXAMPLES:
  pgcert bundle leaf.pem inter.pem root.pem --out server.crt
  pgcert bundle --trust old-root.crt new-root.crt --out root.crt
  pgcert bundle --as-given root.crt inter-a.crt inter-b.crt --out ca-file.crt
  pgcert bundle --trust ca/old/cacert.pem ca/new/cacert.pem --pgdata $PGDATA --reload

EXIT CODES:
  0  success
  1  the certificates do not form a chain (missing issuer, bad signature, not a root with --trust)
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("destination").args(["pgdata", "out"])))]
pub struct Args {
    /// Certificate files (PEM or DER).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output file (default: stdout).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Keep the root at the end of the chain.
    #[arg(long, conflicts_with = "trust")]
    include_root: bool,
    /// Make a trust bundle of several roots instead of a chain.
    #[arg(long)]
    trust: bool,
    /// Keep the certificates in the order given, unchecked as a chain (a CA file holding a
    /// root and several intermediates, say); each must still parse as a certificate.
    #[arg(long, conflicts_with_all = ["trust", "include_root"])]
    as_given: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Run.
pub fn run(ctx: &Ctx, mut a: Args) -> anyhow::Result<()> {
    let cluster = a.cluster.open()?;
    if let Some(c) = &cluster {
        if !a.trust {
            return Err(anyhow!(
                "--pgdata writes the server's ssl_ca_file, which is a trust bundle"
            )
            .context(Hint::new(
                "add --trust (the server's certificate chain is written by issue server / renew)",
            )));
        }
        a.out = Some(c.settings.ca.clone().ok_or_else(|| {
            anyhow!(
                "{} does not set ssl_ca_file, so the server trusts no client certificate",
                c.settings
                    .sources
                    .first()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the configuration".into())
            )
            .context(Hint::new(
                "set ssl_ca_file = 'root.crt' in postgresql.conf first (a relative name is in the data directory), or write the file with --out",
            ))
        })?);
    }
    let mut certs: Vec<CertInfo> = Vec::new();
    for f in &a.files {
        certs.extend(read_certs(f)?);
    }
    let (role, out_certs) = if a.as_given {
        ("as given", certs)
    } else if a.trust {
        let roots =
            chain::trust_bundle(certs).map_err(|e| anyhow!("cannot make a trust bundle: {e}"))?;
        ("root", roots)
    } else {
        let c = chain::order_chain(certs).map_err(|e| {
            anyhow!("cannot order the certificates into a chain: {e}").context(Hint::new(
                "give every certificate of the chain, in any order",
            ))
        })?;
        let mut v = c.certs;
        if v.len() > 1 && v.last().is_some_and(CertInfo::is_self_issued) {
            if !a.include_root {
                v.pop();
            }
        } else if a.include_root {
            return Err(anyhow!(
                "--include-root: the root of {} is not among the files",
                v[0].subject
            )
            .context(Hint::new("add the root certificate file")));
        }
        ("chain", v)
    };
    let pem: String = out_certs.iter().map(CertInfo::pem).collect();
    let mut outcome = Outcome {
        command: if a.trust {
            "bundle --trust".into()
        } else {
            "bundle".into()
        },
        certificates: out_certs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let r = if a.trust || a.as_given {
                    role
                } else if i == 0 {
                    "leaf"
                } else if c.is_self_issued() {
                    "root"
                } else {
                    "intermediate"
                };
                CertSummary::new(r, None, c)
            })
            .collect(),
        ..Default::default()
    };
    match &a.out {
        Some(p) => {
            let w = files::write_one(
                FileWrite::public(
                    p.clone(),
                    pem.into_bytes(),
                    if a.trust {
                        "trust bundle"
                    } else {
                        "certificate chain"
                    },
                    // a trust bundle is regenerated during rotations: refreshing one needs no
                    // --force; a certificate chain is a certificate and does
                    Overwrite::forced_or(
                        ctx.force,
                        if a.trust {
                            Overwrite::SameKind(Artefact::TrustBundle)
                        } else {
                            Overwrite::Never
                        },
                    ),
                )
                .owned_by(cluster.as_ref().map(|c| c.owner)),
            )?;
            outcome.files.push(w);
            if let Some(c) = &cluster {
                a.cluster.finish(c, Expect::Reloaded, &mut outcome.notes)?;
            }
            ctx.report.finish(&outcome);
        }
        None => match ctx.report.mode() {
            crate::report::Mode::Json => ctx.report.finish(&outcome),
            _ => ctx.report.data(&pem),
        },
    }
    Ok(())
}
