//! `pgcert sign`: sign a CSR made elsewhere, from the CA database (recorded like `issue`) or
//! from a CA given as loose files (`openssl x509 -req -CA -CAkey -CAcreateserial`).

use std::path::PathBuf;

use anyhow::{Context, anyhow};

use crate::ca::read_certs;
use crate::cli::Ctx;
use crate::cli::args::{OutArgs, SanArgs, TemplateArgs, ValidityArgs, load_key};
use crate::error::Hint;
use crate::issuance::{self, LeafRequest, LeafRole, Outputs, SubjectKey};
use crate::pki::csr::Csr;
use crate::pki::issue::{CaSigner, CertSpec};
use crate::pki::name::San;
use crate::pki::serial::Serial;
use crate::report::{CertSummary, Outcome};

pub(crate) const HELP: &str = "Checks the CSR's signature (an altered request is refused), then issues a certificate with the \
CSR's subject and public key and the profile's extensions. basicConstraints, keyUsage and extendedKeyUsage are never \
taken from the CSR. SANs come from --san, and from the CSR only with --copy-san; a server certificate always gets its \
CN as a SAN. CSRs are recognised by content (PEM or DER): a certificate or key given by mistake is named.

The profile is --profile, else the one the CSR asks for: a CSR whose extendedKeyUsage names exactly one of serverAuth \
(server) and clientAuth (client), as 'pgcert req --profile' makes. There is no default: a CSR that asks for neither \
needs --profile.

From the CA database (--ca): the certificate is recorded in index.txt and newcerts/ like `issue`; writes BASE.crt (the \
certificate then this CA's intermediates) and root.crt. BASE is --name, else the CSR's file name without extension.
With --ca-cert/--ca-key: no database; the serial comes from the .srl file (--serial-file, default the CA certificate's \
name with .srl), which holds the last serial used, is created with a random serial, and is accepted by \
`openssl x509 -CAserial`. Writes BASE.crt (the certificate, then the CA certificate when that is not a root).

EXAMPLES:
  pgcert sign db1.csr --profile server --copy-san
  pgcert sign alice.csr --profile client --ca ca/pg --out issued/
  pgcert sign sub.csr --profile intermediate-ca --ca ca/root
  pgcert sign db1.csr --ca-cert root.crt --ca-key root.key --profile server

EXIT CODES:
  0  success
  1  failure (bad or altered CSR, certificate given as CSR, CA unusable, existing files without --force)
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The certificate signing request (PEM or DER).
    #[arg(value_name = "CSR")]
    csr: PathBuf,
    /// Profile: server, client or intermediate-ca (default: the one the CSR's extendedKeyUsage
    /// asks for, when it names exactly one of serverAuth / clientAuth).
    #[arg(long, value_parser = ["server", "client", "intermediate-ca"])]
    profile: Option<String>,
    /// Take the DNS and IP SANs the CSR requests.
    #[arg(long)]
    copy_san: bool,
    /// pathLenConstraint for --profile intermediate-ca.
    #[arg(long, value_name = "N")]
    pathlen: Option<u8>,
    /// Sign with this CA certificate instead of the CA database (with --ca-key).
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    ca_cert: Option<PathBuf>,
    /// The CA's private key (with --ca-cert).
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    ca_key: Option<PathBuf>,
    /// Serial file for --ca-cert signing (default: CA certificate name with .srl).
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    serial_file: Option<PathBuf>,
    #[command(flatten)]
    sans: SanArgs,
    #[command(flatten)]
    validity: ValidityArgs,
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    out: OutArgs,
    /// Write the certificate alone, without this CA's intermediates (a test matrix's
    /// leaf-only file; PostgreSQL's ssl_cert_file normally needs them).
    #[arg(long)]
    leaf_only: bool,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&a.csr).with_context(|| format!("cannot read {}", a.csr.display()))?;
    let csr = Csr::parse(&bytes).map_err(|e| {
        anyhow!("{} is not usable: {e}", a.csr.display())
            .context(Hint::new(format!(
                "run 'pgcert show {}' to see what it holds",
                a.csr.display()
            )))
            .context(format!("cannot sign {}", a.csr.display()))
    })?;
    // no default: a user's CSR signed as a server certificate cannot log in, and a host's
    // signed as a client certificate cannot serve
    let profile_name: String = match (&a.profile, csr.requested_profile) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p.to_string(),
        (None, None) => {
            return Err(anyhow!(
                "{} does not say what the certificate is for (its extendedKeyUsage names neither serverAuth nor clientAuth alone)",
                a.csr.display()
            )
            .context(Hint::new(
                "add --profile client for a database user, --profile server for a host, or --profile intermediate-ca",
            )));
        }
    };
    let profile = a.template.load(&profile_name)?;
    let mut sans: Vec<San> = a.sans.sans.clone();
    if a.copy_san {
        for s in &csr.sans {
            if !sans.contains(s) {
                sans.push(s.clone());
            }
        }
    }
    let spec = CertSpec {
        subject: csr.subject.clone(),
        sans,
        validity: a.validity.resolve(&profile)?,
        serial: Serial::random(),
        pathlen: a.pathlen,
        profile,
    };
    let base = a.out.name.clone().unwrap_or_else(|| {
        a.csr
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty() && !s.starts_with('.'))
            .unwrap_or_else(|| "cert".into())
    });
    let outputs = Outputs {
        dir: a.out.out.clone(),
        base,
        owner: None,
        force: ctx.force,
        server_files: None,
        extra_chain: Vec::new(),
        leaf_only: a.leaf_only,
    };
    let key = SubjectKey {
        spki: csr.spki.clone(),
        rsa: csr.is_rsa,
        private: None,
    };
    let mut notes: Vec<String> = csr
        .ignored
        .iter()
        .map(|i| format!("note: the CSR asks for {i}; the {profile_name} profile decides instead"))
        .collect();
    let (issued, files, ca) = match (&a.ca_cert, &a.ca_key) {
        (Some(cert), Some(keyp)) => {
            let mut certs = read_certs(cert)?;
            let ca_cert = certs.remove(0);
            let ca_key = load_key(keyp, ctx.ca_passin.as_ref(), "--ca-passin", &ctx.report)?;
            let signer = CaSigner::new(ca_cert, ca_key).map_err(|e| {
                anyhow!(
                    "cannot sign with {} and {}: {e}",
                    cert.display(),
                    keyp.display()
                )
            })?;
            let srl = a
                .serial_file
                .clone()
                .unwrap_or_else(|| issuance::default_srl_path(cert));
            let (issued, files) =
                issuance::sign_loose(&spec, &key, &signer, &srl, &outputs, ctx.allow_outlive)?;
            (issued, files, None)
        }
        _ => {
            let ca = ctx.open_ca(&ctx.ca)?;
            let req = LeafRequest {
                role: LeafRole::Cert,
                spec,
                key,
                outputs: outputs.clone(),
                allow_outlive: ctx.allow_outlive,
                revoke_old: None,
            };
            let r = issuance::issue_leaf(&ca, req, ctx.waiting())?;
            (r.issued, r.written, Some(ctx.ca.clone()))
        }
    };
    if !a.copy_san && !csr.sans.is_empty() {
        notes.push("note: the CSR's SANs were not copied (pass --copy-san to take them)".into());
    }
    ctx.report.finish(&Outcome {
        command: "sign".into(),
        certificates: vec![CertSummary::new(
            &profile_name,
            Some(outputs.dir.join(format!("{}.crt", outputs.base))),
            &issued.cert,
        )],
        files,
        ca,
        notes,
        ..Default::default()
    });
    Ok(())
}
