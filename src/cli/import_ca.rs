//! `pgcert import-ca`: complete a CA directory made with `init-ca --csr-only` once an outside
//! CA (Vault, step-ca, a corporate CA, openssl) has signed its request.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::ca::{self, CaDir, NewCa, read_certs};
use crate::cli::Ctx;
use crate::cli::args::load_key;
use crate::error::Hint;
use crate::pki::chain::order_chain;
use crate::pki::inspect::CertInfo;
use crate::pki::serial::Serial;
use crate::report::{CertSummary, Outcome};

pub(crate) const HELP: &str = "Checks that the certificate is for the key waiting in DIR/private/cakey.pem, is a CA \
(CA:TRUE, keyCertSign) and chains, signature by signature, through --chain to a root; then writes the rest of the CA \
directory (cacert.pem, serial, index.txt, crlnumber, crl.pem, openssl.cnf, chain.pem without the root, root.crt = that \
root) so `pgcert issue` works from it. --chain may hold the intermediates above this CA and must hold the root; the \
certificate file may hold them too.

EXAMPLES:
  pgcert init-ca --ca ca/pg --csr-only --cn \"Example PostgreSQL CA\"
  # ... have ca/pg/careq.pem signed as an intermediate CA ...
  pgcert import-ca --ca ca/pg --cert signed.pem --chain corporate-root.pem

EXIT CODES:
  0  success
  1  the certificate does not match the key, is not a CA, or does not chain to a root
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The signed CA certificate (PEM or DER).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// Certificates above it: intermediates and the root.
    #[arg(long, value_name = "FILE")]
    chain: Option<PathBuf>,
    /// First serial this CA issues, hex (default: random 128-bit).
    #[arg(long, value_name = "HEX", value_parser = |s: &str| s.parse::<Serial>())]
    serial: Option<Serial>,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let dir = CaDir::at(&ctx.ca);
    if dir.cacert().exists() {
        return Err(anyhow!(
            "{} is already a complete CA ({} exists)",
            ctx.ca.display(),
            dir.cacert().display()
        )
        .context(Hint::new(
            "import-ca completes a directory made with 'pgcert init-ca --csr-only'",
        )));
    }
    if !dir.cakey().exists() {
        return Err(
            anyhow!("no waiting key: {} is missing", dir.cakey().display()).context(Hint::new(
                format!(
                    "start with 'pgcert init-ca --ca {} --csr-only', and have its careq.pem signed",
                    ctx.ca.display()
                ),
            )),
        );
    }
    let key = load_key(
        &dir.cakey(),
        ctx.ca_passin.as_ref(),
        "--ca-passin",
        &ctx.report,
    )?;
    let mut certs = read_certs(&a.cert)?;
    if let Some(c) = &a.chain {
        certs.extend(read_certs(c)?);
    }
    let spki = key.spki_der();
    let pos = certs.iter().position(|c| c.spki == spki).ok_or_else(|| {
        anyhow!(
            "{} holds no certificate for the key in {}",
            a.cert.display(),
            dir.cakey().display()
        )
        .context(Hint::new(
            "give the certificate issued for this directory's careq.pem",
        ))
    })?;
    let cert = certs.remove(pos);
    if !cert.can_sign_certificates() {
        return Err(anyhow!(
            "{} is not a CA certificate (CA:TRUE with keyCertSign is needed)",
            a.cert.display()
        )
        .context(Hint::new(
            "ask the outside CA to sign careq.pem with its intermediate/sub-CA profile",
        )));
    }
    // everything else must be the chain above it, ending in a root
    let mut all = vec![cert.clone()];
    all.extend(certs.into_iter().filter(|c| c.der != cert.der));
    let chain = order_chain(all).map_err(|e| anyhow!("the certificate does not chain: {e}"))?;
    if chain.certs[0].der != cert.der {
        return Err(anyhow!(
            "{} signed a certificate in the given files; give only its issuers in --chain",
            cert.subject
        ));
    }
    if !chain.ends_in_root() {
        let top = chain.certs.last().expect("non-empty");
        return Err(anyhow!(
            "the chain ends at {}, whose issuer {} is missing",
            top.subject,
            top.issuer
        )
        .context(Hint::new(
            "add the root certificate with --chain (it becomes root.crt)",
        )));
    }
    let root = chain.certs.last().expect("non-empty").clone();
    let above: Vec<CertInfo> = chain.certs[1..chain.certs.len() - 1].to_vec();
    let written = ca::complete_ca_dir(
        &ctx.ca,
        NewCa {
            cert: cert.clone(),
            key,
            above,
            roots: vec![root],
            first_serial: a.serial.clone().unwrap_or_else(Serial::random),
            parent: None,
            parent_crls: String::new(),
            key_passphrase: None,
        },
    )?;
    ctx.report.finish(&Outcome {
        command: "import-ca".into(),
        certificates: vec![CertSummary::new(
            "intermediate-ca",
            Some(dir.cacert()),
            &cert,
        )],
        files: written,
        ca: Some(ctx.ca.clone()),
        ..Default::default()
    });
    Ok(())
}
