//! `pgcert show`: what files hold, like `openssl x509/req/crl -text`, by content.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::Serialize;

use crate::cli::Ctx;
use crate::cli::args::parse_pass;
use crate::error::{Hint, sanitize};
use crate::passphrase::PassSource;
use crate::pki::describe::{
    CertView, CrlView, CsrView, ExtView, KeyView, cert_view, crl_view, csr_view, key_view,
};
use crate::pki::key::PrivateKey;
use crate::pki::object::{Object, read_objects};
use crate::report::Mode;

pub(crate) const HELP: &str = "Shows every object in each file, recognised by content (PEM or DER; a CSR is never shown as a \
certificate): certificates (subject, issuer, serial, validity and days left, key, signature algorithm, every \
extension, SHA-256 and SHA-1 fingerprints, OpenSSL subject and issuer hashes), CSRs (and whether their signature \
verifies), CRLs (number, updates, revoked serials), keys (type, whether encrypted, and which certificate they match: \
among the files given, else the .crt/.pem files beside the key). --json prints {\"objects\": [...]}.

EXAMPLES:
  pgcert show server.crt
  pgcert show $PGDATA/server.key $PGDATA/server.crt
  pgcert show crl.pem --json

EXIT CODES:
  0  success
  1  a file is unreadable or holds something pgcert does not recognise
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to show.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Passphrase of encrypted keys (to see which certificate they match).
    #[arg(long, value_name = "SPEC", value_parser = parse_pass)]
    passin: Option<PassSource>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum View {
    Certificate(CertView),
    CertificateRequest(CsrView),
    Crl(CrlView),
    PrivateKey(KeyView),
}

#[derive(Debug, Serialize)]
struct Shown {
    file: PathBuf,
    index: usize,
    #[serde(flatten)]
    view: View,
}

fn certs_beside(key: &Path) -> Vec<(String, Vec<u8>)> {
    let dir = key
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten().take(200) {
        let p = e.path();
        if !matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("crt" | "pem" | "cer")
        ) {
            continue;
        }
        if let Ok(objs) = std::fs::read(&p)
            .map_err(|e| e.to_string())
            .and_then(|b| read_objects(&b))
        {
            for o in objs {
                if let Object::Certificate(d) = o {
                    out.push((p.display().to_string(), d));
                }
            }
        }
    }
    out
}

fn text_cert(out: &mut String, c: &CertView) {
    let days = match c.validity {
        "valid" => format!("{} days left", c.days_left),
        other => other.to_string(),
    };
    out.push_str(&format!(
        "  Subject:      {}\n  Issuer:       {}\n",
        c.subject, c.issuer
    ));
    out.push_str(&format!(
        "  Serial:       {}\n  Validity:     {} to {} ({days})\n",
        c.serial, c.not_before, c.not_after
    ));
    out.push_str(&format!(
        "  Key:          {}\n  Signature:    {}\n",
        c.key, c.signature_algorithm
    ));
    exts(out, &c.extensions);
    out.push_str(&format!(
        "  SHA-256:      {}\n  SHA-1:        {}\n",
        c.sha256, c.sha1
    ));
    out.push_str(&format!(
        "  Subject hash: {} (issuer hash {})\n",
        c.subject_hash, c.issuer_hash
    ));
}

fn exts(out: &mut String, e: &[ExtView]) {
    if e.is_empty() {
        out.push_str("  Extensions:   none\n");
        return;
    }
    out.push_str("  Extensions:\n");
    for x in e {
        let crit = if x.critical { " (critical)" } else { "" };
        out.push_str(&format!("    {}{crit}: {}\n", x.name, x.value));
    }
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let mut all: Vec<(PathBuf, Vec<Object>)> = Vec::new();
    for f in &a.files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        let objs = read_objects(&bytes).map_err(|e| {
            anyhow!("{}: {e}", f.display()).context(Hint::new(
                "pgcert shows certificates, CSRs, CRLs and private keys, in PEM or DER",
            ))
        })?;
        all.push((f.clone(), objs));
    }
    let given_certs: Vec<(String, Vec<u8>)> = all
        .iter()
        .flat_map(|(f, objs)| {
            objs.iter().filter_map(move |o| match o {
                Object::Certificate(d) => Some((f.display().to_string(), d.clone())),
                _ => None,
            })
        })
        .collect();
    let mut shown = Vec::new();
    for (f, objs) in &all {
        for (i, o) in objs.iter().enumerate() {
            let view = match o {
                Object::Certificate(d) => View::Certificate(
                    cert_view(d, now).map_err(|e| anyhow!("{}: {e}", f.display()))?,
                ),
                Object::Csr(d) => View::CertificateRequest(
                    csr_view(d).map_err(|e| anyhow!("{}: {e}", f.display()))?,
                ),
                Object::Crl(d) => {
                    View::Crl(crl_view(d, now).map_err(|e| anyhow!("{}: {e}", f.display()))?)
                }
                Object::Key(_, _) | Object::EncryptedKey(_) | Object::LegacyEncryptedKey => {
                    let key = match (o, &a.passin) {
                        (Object::EncryptedKey(d), Some(p)) => {
                            let pass = p.read(|w| ctx.report.warn(w))?;
                            Some(
                                PrivateKey::from_encrypted_bytes(d, &pass)
                                    .map_err(|e| anyhow!("{}: {e}", f.display()))?,
                            )
                        }
                        (Object::Key(d, _), _) => PrivateKey::from_bytes(d).ok(),
                        _ => None,
                    };
                    let pool = if given_certs.is_empty() {
                        certs_beside(f)
                    } else {
                        given_certs.clone()
                    };
                    View::PrivateKey(key_view(o, key.as_ref(), &pool))
                }
            };
            shown.push(Shown {
                file: f.clone(),
                index: i + 1,
                view,
            });
        }
    }
    if ctx.report.mode() == Mode::Json {
        let j = serde_json::json!({ "command": "show", "objects": shown });
        ctx.report
            .data(&format!("{}\n", serde_json::to_string_pretty(&j)?));
        return Ok(());
    }
    let mut out = String::new();
    for s in &shown {
        let count = all
            .iter()
            .find(|(f, _)| f == &s.file)
            .map(|(_, o)| o.len())
            .unwrap_or(1);
        let pos = if count > 1 {
            format!(" {} of {count}", s.index)
        } else {
            String::new()
        };
        let kind = match &s.view {
            View::Certificate(_) => "certificate",
            View::CertificateRequest(_) => "certificate request (CSR)",
            View::Crl(_) => "CRL",
            View::PrivateKey(_) => "private key",
        };
        out.push_str(&format!("{}: {kind}{pos}\n", s.file.display()));
        match &s.view {
            View::Certificate(c) => text_cert(&mut out, c),
            View::CertificateRequest(c) => {
                out.push_str(&format!(
                    "  Subject:      {}\n  Key:          {}\n  Signature:    {} ({})\n",
                    c.subject,
                    c.key,
                    c.signature_algorithm,
                    if c.signature_valid {
                        "verifies"
                    } else {
                        "DOES NOT VERIFY"
                    }
                ));
                for x in &c.requested_extensions {
                    out.push_str(&format!("    requested: {}\n", x.value));
                }
            }
            View::Crl(c) => {
                out.push_str(&format!(
                    "  Issuer:       {} (hash {})\n",
                    c.issuer, c.issuer_hash
                ));
                out.push_str(&format!(
                    "  Number:       {}\n  This update:  {}\n  Next update:  {} ({})\n",
                    c.number.as_deref().unwrap_or("none"),
                    c.this_update,
                    c.next_update.as_deref().unwrap_or("none"),
                    c.state
                ));
                out.push_str(&format!("  Revoked:      {}\n", c.revoked.len()));
                for r in &c.revoked {
                    out.push_str(&format!(
                        "    {} on {}{}\n",
                        r.serial,
                        r.date,
                        r.reason
                            .as_deref()
                            .map(|x| format!(" ({x})"))
                            .unwrap_or_default()
                    ));
                }
            }
            View::PrivateKey(k) => {
                out.push_str(&format!(
                    "  Key:          {}\n  Form:         {}\n",
                    k.key, k.form
                ));
                if k.matches.is_empty() {
                    out.push_str("  Matches:      no certificate found\n");
                }
                for m in &k.matches {
                    out.push_str(&format!("  Matches:      {m}\n"));
                }
            }
        }
    }
    ctx.report.data(&sanitize(&out));
    Ok(())
}
