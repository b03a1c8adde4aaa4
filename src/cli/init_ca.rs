//! `pgcert init-ca`: a root CA, or with `--parent` an intermediate issued and recorded by
//! another CA directory.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::cli::Ctx;
use crate::cli::args::{KeyTypeArgs, SubjectArgs, TemplateArgs, ValidityArgs};
use crate::issuance::{self, CaRequest};
use crate::pki::encoding::upper_hex;
use crate::pki::inspect::key_id;
use crate::pki::issue::CertSpec;
use crate::pki::serial::Serial;
use crate::report::{CertSummary, Outcome};

pub(crate) const HELP: &str = "Creates the CA directory given by --ca (default $PGCERT_CA, else ./demoCA) in OpenSSL's demoCA \
layout: cacert.pem, private/cakey.pem (0600, private/ 0700), serial, index.txt, index.txt.attr (unique_subject = no), \
crlnumber, crl.pem (an empty CRL), certs/, crl/, newcerts/, openssl.cnf (so `openssl ca -config DIR/openssl.cnf` continues \
the CA), root.crt and, for an intermediate, chain.pem. The first serial is random (128 bits) unless --serial is given. \
An existing non-empty directory is never touched. The default CN carries the first 8 hex digits of the key id, so two \
roots made on the same day never share a subject name (which matters in trust bundles and ssl_crl_dir).

EXAMPLES:
  pgcert init-ca --ca ca/root --cn \"Example Root CA\"
  pgcert init-ca --ca ca/inter --parent ca/root --cn \"Example PostgreSQL CA\"
  pgcert init-ca --ca ca/root --key-type rsa4096 --days 7300 --pathlen 1

EXIT CODES:
  0  success
  1  failure (directory not empty, parent CA missing or unusable, ...)
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Parent CA directory: make an intermediate CA issued (and recorded) by it.
    #[arg(long, value_name = "PARENT_DIR")]
    parent: Option<PathBuf>,
    /// basicConstraints pathLenConstraint (intermediate default 0: it issues leaves only).
    #[arg(long, value_name = "N")]
    pathlen: Option<u8>,
    /// Make only the key and a request (DIR/careq.pem) for an outside CA to sign; finish with
    /// `pgcert import-ca`.
    #[arg(long, conflicts_with = "parent")]
    csr_only: bool,
    /// Encrypt the new CA key (PKCS#8, AES-256, PBKDF2): env:VAR, file:PATH, fd:N, stdin or
    /// pass:TEXT; commands that sign then need --ca-passin.
    #[arg(long, value_name = "SPEC", value_parser = crate::cli::args::parse_pass)]
    passout: Option<crate::passphrase::PassSource>,
    /// First serial this CA issues, hex (default: random 128-bit).
    #[arg(long, value_name = "HEX", value_parser = |s: &str| s.parse::<Serial>())]
    serial: Option<Serial>,
    #[command(flatten)]
    subject: SubjectArgs,
    #[command(flatten)]
    validity: ValidityArgs,
    #[command(flatten)]
    key_type: KeyTypeArgs,
    #[command(flatten)]
    template: TemplateArgs,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let first_serial = a.serial.clone().unwrap_or_else(Serial::random);
    if first_serial.is_zero() {
        return Err(anyhow!("--serial 00: serial 0 is not allowed (RFC 5280)"));
    }
    crate::ca::check_new_ca_dir(&ctx.ca)?;
    let parent = match &a.parent {
        Some(p) => Some(ctx.open_ca(p)?),
        None => None,
    };
    let role = if parent.is_some() {
        "intermediate-ca"
    } else {
        "root-ca"
    };
    let profile = a.template.load(role)?;
    let validity = a.validity.resolve(&profile)?;
    let key_passphrase = match &a.passout {
        Some(src) => Some(crate::passphrase::obtain_new(
            Some(src),
            "the new CA key",
            "--passout",
            |w| ctx.report.warn(w),
        )?),
        None => None,
    };
    let key = a.key_type.generate(&ctx.report)?;
    let kid = key_id(&key.spki_der()).map_err(|e| anyhow!(e))?;
    let default_cn = format!(
        "PostgreSQL {} CA {}",
        if parent.is_some() {
            "Intermediate"
        } else {
            "Root"
        },
        &upper_hex(&kid)[..8]
    );
    if a.csr_only {
        let subject = a.subject.resolve(Some(&default_cn))?;
        let der = crate::pki::csr::make_csr(
            &subject,
            &[],
            &key,
            crate::pki::csr::Asks::Ca(a.pathlen.or(Some(0))),
        )
        .map_err(|e| anyhow!(e))?;
        use crate::ca::Placement;
        let files = crate::ca::build_csr_only_dir(
            &ctx.ca,
            &key,
            &der,
            key_passphrase.as_deref().map(|s| s.as_str()),
        )?
        .place()?;
        ctx.report.finish(&Outcome {
            command: "init-ca --csr-only".into(),
            files,
            ca: Some(ctx.ca.clone()),
            notes: vec![format!(
                "have {} signed as an intermediate CA, then run 'pgcert import-ca --ca {} --cert SIGNED --chain ROOT'",
                crate::ca::careq_path(&ctx.ca).display(),
                ctx.ca.display()
            )],
            ..Default::default()
        });
        return Ok(());
    }
    let spec = CertSpec {
        subject: a.subject.resolve(Some(&default_cn))?,
        sans: Vec::new(),
        validity,
        serial: Serial::random(),
        pathlen: a.pathlen,
        profile,
    };
    let req = CaRequest {
        spec,
        key,
        first_serial,
        allow_outlive: ctx.allow_outlive,
        key_passphrase,
    };
    let (issued, files) = match &parent {
        None => issuance::create_root(&ctx.ca, req)?,
        Some(p) => issuance::create_intermediate(p, &ctx.ca, req, ctx.waiting())?,
    };
    ctx.report.finish(&Outcome {
        command: "init-ca".into(),
        certificates: vec![CertSummary::new(
            role,
            Some(ctx.ca.join("cacert.pem")),
            &issued.cert,
        )],
        files,
        ca: Some(ctx.ca.clone()),
        ..Default::default()
    });
    Ok(())
}
