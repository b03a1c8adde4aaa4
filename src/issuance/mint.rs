//! `pgcert mint PLAN.toml`: a whole test matrix from one plan, in one process.
//!
//! The plan (docs/mint.md) names CAs, leaves, key conversions, CRLs, bundles and CRL
//! directories. It is read and checked completely first (every error names the plan line), so a
//! bad plan writes nothing. Then: every key is generated, spread over `jobs` threads; the CAs are
//! signed in dependency order, the leaves in parallel (serials are handed out before, in plan
//! order, so `--jobs 1` and `--jobs 8` give the same assignment); CRLs are signed; and every
//! file, the CA directories included, is written into a new directory beside the target, flushed
//! with one `syncfs`, and renamed into place. A crash leaves either no target or the whole one;
//! the half-built directory is swept by the next pgcert run there.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Result, anyhow};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use toml::Spanned;

use crate::ca::create::{CaAround, CaState, ca_dir_files};
use crate::ca::index::IndexEntry;
use crate::ca::{CaDir, revocation};
use crate::error::Hint;
use crate::files::{self, TreeFile};
use crate::pki::crl::{self, Revoked};
use crate::pki::encoding::to_pem;
use crate::pki::inspect::CertInfo;
use crate::pki::issue::{self, CaSigner, CertSpec, Validity};
use crate::pki::key::{KeyType, PrivateKey};
use crate::pki::name::{San, Subject};
use crate::pki::profile::Profile;
use crate::pki::serial::Serial;

// ---------------------------------------------------------------------------------------------
// The plan as written

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    ca: Vec<Spanned<CaEntry>>,
    #[serde(default)]
    leaf: Vec<Spanned<LeafEntry>>,
    #[serde(default)]
    key: Vec<Spanned<KeyEntry>>,
    #[serde(default)]
    crl: Vec<Spanned<CrlEntry>>,
    #[serde(default)]
    bundle: Vec<Spanned<BundleEntry>>,
    #[serde(default)]
    crl_dir: Vec<Spanned<CrlDirEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    key_type: Option<String>,
    days: Option<u32>,
    ca_days: Option<u32>,
    crl_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaEntry {
    name: String,
    cn: Option<String>,
    subj: Option<String>,
    parent: Option<String>,
    key_type: Option<String>,
    days: Option<u32>,
    not_before: Option<String>,
    not_after: Option<String>,
    pathlen: Option<u8>,
    serial: Option<String>,
    dir: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    key_format: Option<String>,
    passphrase: Option<String>,
    #[serde(default)]
    allow_outlive_issuer: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RevokedEntry {
    Yes(bool),
    Reason(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeafEntry {
    name: String,
    ca: String,
    profile: String,
    cn: Option<String>,
    subj: Option<String>,
    #[serde(default)]
    san: Vec<String>,
    cn_in_san: Option<bool>,
    key_type: Option<String>,
    days: Option<u32>,
    not_before: Option<String>,
    not_after: Option<String>,
    #[serde(default)]
    allow_outlive_issuer: bool,
    cert: Option<String>,
    key: Option<String>,
    chain: Option<bool>,
    key_format: Option<String>,
    passphrase: Option<String>,
    revoked: Option<RevokedEntry>,
    count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    from: String,
    out: String,
    format: Option<String>,
    passphrase: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrlEntry {
    ca: String,
    out: String,
    days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleEntry {
    out: String,
    #[serde(default)]
    certs: Vec<String>,
    #[serde(default)]
    crls: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrlDirEntry {
    out: String,
    crls: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The plan checked

/// How a private key file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`), or encrypted PKCS#8 PEM with a passphrase.
    Pem,
    /// PKCS#8 DER (PgJDBC's `.pk8`), or encrypted PKCS#8 DER with a passphrase.
    Der,
    /// PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), RSA only.
    Pkcs1,
    /// SEC1 PEM (`BEGIN EC PRIVATE KEY`), ECDSA only.
    Sec1,
}

impl KeyFormat {
    fn parse(s: Option<&str>) -> Result<KeyFormat, String> {
        Ok(match s.unwrap_or("pem") {
            "pem" => KeyFormat::Pem,
            "der" => KeyFormat::Der,
            "pkcs1" => KeyFormat::Pkcs1,
            "sec1" => KeyFormat::Sec1,
            other => {
                return Err(format!(
                    "key format '{other}' is not one of pem, der, pkcs1, sec1"
                ));
            }
        })
    }
}

#[derive(Debug, Clone)]
struct KeyOut {
    path: PathBuf,
    format: KeyFormat,
    passphrase: Option<String>,
}

/// Something that has a key and a certificate: a CA or a leaf.
#[derive(Debug)]
struct Entity {
    name: String,
    line: usize,
    key_type: KeyType,
    spec: CertSpec,
    /// The issuing CA (an index into the entities), none for a root.
    issuer: Option<usize>,
    is_ca: bool,
    allow_outlive: bool,
    /// CA directory (relative to the output).
    dir: Option<PathBuf>,
    cert_out: Option<(PathBuf, bool)>,
    key_out: Option<KeyOut>,
    revoked: Option<Option<&'static str>>,
}

#[derive(Debug)]
struct ConvOut {
    line: usize,
    from: usize,
    out: KeyOut,
}

#[derive(Debug)]
enum Part {
    Cert(usize),
    Crl(usize),
}

#[derive(Debug)]
struct BundleOut {
    line: usize,
    path: PathBuf,
    parts: Vec<Part>,
}

#[derive(Debug)]
struct CrlDirOut {
    line: usize,
    path: PathBuf,
    cas: Vec<usize>,
}

/// A plan read and checked: nothing in it can fail for a reason the plan could have shown.
#[derive(Debug)]
pub struct Plan {
    entities: Vec<Entity>,
    /// CAs in dependency order (parents first).
    ca_order: Vec<usize>,
    conversions: Vec<ConvOut>,
    /// CRL days per CA (the CA's CRL is signed once, for `crl.pem` and every `[[crl]]` file).
    crl_days: HashMap<usize, u32>,
    /// CRL days of the CAs without a `[[crl]]` (`defaults.crl_days`).
    default_crl_days: u32,
    crl_files: Vec<(usize, PathBuf, usize)>,
    bundles: Vec<BundleOut>,
    crl_dirs: Vec<CrlDirOut>,
}

impl Plan {
    /// How many certificates the plan makes.
    pub fn certificates(&self) -> usize {
        self.entities.len()
    }
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// A plan error: `PLAN:LINE: what`, with the fix as hint.
fn at(plan: &Path, line: usize, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{}:{line}: {what}", plan.display()).context(Hint::new(
        "fix the plan (docs/mint.md lists every field); nothing was written",
    ))
}

/// `now`, RFC 3339, `YYYYMMDDHHMMSSZ`, a date `YYYY-MM-DD`, or relative to now: `+30d`,
/// `-1d`, `-2h`.
fn parse_when(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now);
    }
    if let Some(rel) = s.strip_prefix(['+', '-']) {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        let (num, unit) = rel.split_at(rel.len().saturating_sub(1));
        let n: i64 = num
            .parse()
            .map_err(|_| format!("'{s}' is not a relative time like +30d, -1d or -2h"))?;
        let d = match unit {
            "d" => Duration::days(n),
            "h" => Duration::hours(n),
            "m" => Duration::minutes(n),
            _ => return Err(format!("'{s}': the unit is d, h or m")),
        };
        return now
            .checked_add(d * sign)
            .ok_or_else(|| format!("'{s}' is out of range"));
    }
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    if s.len() == 10
        && let Ok(t) = crate::ca::index::parse_asn1_time(&format!("{}000000Z", s.replace('-', "")))
    {
        return Ok(t);
    }
    crate::ca::index::parse_asn1_time(s).map_err(|_| {
        format!("'{s}' is not a time (RFC 3339, YYYYMMDDHHMMSSZ, YYYY-MM-DD, now, +30d, -1d)")
    })
}

/// A relative output path, without `..`.
fn out_path(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    if s.is_empty()
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "'{s}' must be a relative path inside the output directory, without '..'"
        ));
    }
    Ok(p.components().collect())
}

fn subject_of(cn: Option<&str>, subj: Option<&str>) -> Result<Subject, String> {
    match (cn, subj) {
        (Some(_), Some(_)) => Err("give cn or subj, not both".into()),
        (Some(cn), None) => Subject::from_cn(cn),
        (None, Some(s)) => s.parse(),
        (None, None) => Err("a subject is required: cn = \"...\" or subj = \"/.../CN=...\"".into()),
    }
}

fn validity(
    days: Option<u32>,
    not_before: Option<&str>,
    not_after: Option<&str>,
    default_days: u32,
    now: OffsetDateTime,
) -> Result<Validity, String> {
    let nb = not_before.map(|s| parse_when(s, now)).transpose()?;
    let na = not_after.map(|s| parse_when(s, now)).transpose()?;
    Validity::resolve(days, nb, na, default_days, now)
}

/// Read and check a plan. `text` is the file's contents, `path` its name for messages.
pub fn read_plan(path: &Path, text: &str) -> Result<Plan> {
    let file: PlanFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        at(path, line, e.message().trim_end())
    })?;
    let now = OffsetDateTime::now_utc();
    let d = &file.defaults;
    let default_key = match &d.key_type {
        Some(k) => k.parse::<KeyType>().map_err(|e| at(path, 1, e))?,
        None => KeyType::EcdsaP256,
    };
    let mut entities: Vec<Entity> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut parents: Vec<(usize, String, usize)> = Vec::new();
    // the CAs
    for c in &file.ca {
        let line = line_of(text, c.span().start);
        let c = c.get_ref();
        let e = |what: String| at(path, line, format!("[[ca]] '{}': {what}", c.name));
        let subject = subject_of(c.cn.as_deref(), c.subj.as_deref()).map_err(e)?;
        let profile = Profile::builtin(if c.parent.is_some() {
            "intermediate-ca"
        } else {
            "root-ca"
        });
        let v = validity(
            c.days.or(d.ca_days),
            c.not_before.as_deref(),
            c.not_after.as_deref(),
            profile.default_days,
            now,
        )
        .map_err(e)?;
        let mut spec = CertSpec::new(profile, subject, Vec::new(), v);
        spec.pathlen = c.pathlen;
        if let Some(s) = &c.serial {
            spec.serial = s.parse().map_err(|x| e(format!("serial: {x}")))?;
            if spec.serial.is_zero() {
                return Err(e("serial 0 is not allowed".into()));
            }
        }
        let key_type = match &c.key_type {
            Some(k) => k.parse().map_err(e)?,
            None => default_key,
        };
        let dir = out_path(c.dir.as_deref().unwrap_or(&format!("ca/{}", c.name))).map_err(e)?;
        let cert_out = c
            .cert
            .as_deref()
            .map(|p| out_path(p).map(|p| (p, false)))
            .transpose()
            .map_err(e)?;
        let key_out = match &c.key {
            Some(p) => Some(KeyOut {
                path: out_path(p).map_err(e)?,
                format: KeyFormat::parse(c.key_format.as_deref()).map_err(e)?,
                passphrase: c.passphrase.clone(),
            }),
            None => None,
        };
        let idx = entities.len();
        if by_name.insert(c.name.clone(), idx).is_some() {
            return Err(e("the name is used twice".into()));
        }
        if let Some(p) = &c.parent {
            parents.push((idx, p.clone(), line));
        }
        entities.push(Entity {
            name: c.name.clone(),
            line,
            key_type,
            spec,
            issuer: None,
            is_ca: true,
            allow_outlive: c.allow_outlive_issuer,
            dir: Some(dir),
            cert_out,
            key_out,
            revoked: None,
        });
    }
    for (idx, parent, line) in parents {
        let p = *by_name.get(&parent).ok_or_else(|| {
            at(
                path,
                line,
                format!(
                    "[[ca]] '{}': parent '{parent}' is not a [[ca]] of the plan",
                    entities[idx].name
                ),
            )
        })?;
        entities[idx].issuer = Some(p);
    }
    // dependency order, refusing loops
    let mut ca_order: Vec<usize> = Vec::new();
    let ca_count = entities.len();
    while ca_order.len() < ca_count {
        let before = ca_order.len();
        for (i, en) in entities.iter().enumerate() {
            if !ca_order.contains(&i) && en.issuer.is_none_or(|p| ca_order.contains(&p)) {
                ca_order.push(i);
            }
        }
        if ca_order.len() == before {
            let stuck = (0..ca_count)
                .find(|i| !ca_order.contains(i))
                .expect("one is left");
            return Err(at(
                path,
                entities[stuck].line,
                format!("[[ca]] '{}': its parents form a loop", entities[stuck].name),
            ));
        }
    }
    for &i in &ca_order {
        check_lifetime(path, &entities, i)?;
    }
    // the leaves, each expanded `count` times
    for l in &file.leaf {
        let line = line_of(text, l.span().start);
        let l = l.get_ref();
        let e0 = |what: String| at(path, line, format!("[[leaf]] '{}': {what}", l.name));
        let count = l.count.unwrap_or(1);
        if count == 0 {
            return Err(e0("count must be at least 1".into()));
        }
        if count > 1 && !l.name.contains("{n}") {
            return Err(e0(
                "with count, the name must hold {n} (it is replaced by 1, 2, ...)".into(),
            ));
        }
        let ca = *by_name
            .get(&l.ca)
            .filter(|&&i| entities[i].is_ca)
            .ok_or_else(|| e0(format!("ca '{}' is not a [[ca]] of the plan", l.ca)))?;
        let mut profile = match l.profile.as_str() {
            "server" | "client" => Profile::builtin(&l.profile),
            other => return Err(e0(format!("profile '{other}' is not server or client"))),
        };
        if let Some(b) = l.cn_in_san {
            profile.cn_in_san = b;
        }
        let key_type = match &l.key_type {
            Some(k) => k.parse().map_err(e0)?,
            None => default_key,
        };
        let revoked = match &l.revoked {
            None | Some(RevokedEntry::Yes(false)) => None,
            Some(RevokedEntry::Yes(true)) => Some(None),
            Some(RevokedEntry::Reason(r)) => Some(Some(revocation::parse_reason(r).map_err(e0)?)),
        };
        for n in 1..=count {
            let fill = |s: &str| s.replace("{n}", &n.to_string());
            let name = fill(&l.name);
            let e = |what: String| at(path, line, format!("[[leaf]] '{name}': {what}"));
            let subject = subject_of(
                l.cn.as_deref().map(fill).as_deref(),
                l.subj.as_deref().map(fill).as_deref(),
            )
            .map_err(e)?;
            let sans = l
                .san
                .iter()
                .map(|s| fill(s).parse::<San>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?;
            let v = validity(
                l.days.or(d.days),
                l.not_before.as_deref(),
                l.not_after.as_deref(),
                profile.default_days,
                now,
            )
            .map_err(e)?;
            let spec = CertSpec::new(profile.clone(), subject, sans, v);
            if spec.profile.cn_in_san && spec.effective_sans().is_empty() {
                return Err(e(
                    "a server certificate needs a host name: a CN that is one, or san = [...]; \
                     or set cn_in_san = false for a certificate without names"
                        .into(),
                ));
            }
            let cert =
                out_path(&fill(l.cert.as_deref().unwrap_or(&format!("{name}.crt")))).map_err(e)?;
            let key = KeyOut {
                path: out_path(&fill(l.key.as_deref().unwrap_or(&format!("{name}.key"))))
                    .map_err(e)?,
                format: KeyFormat::parse(l.key_format.as_deref()).map_err(e)?,
                passphrase: l.passphrase.clone(),
            };
            let idx = entities.len();
            if by_name.insert(name.clone(), idx).is_some() {
                return Err(e("the name is used twice".into()));
            }
            entities.push(Entity {
                name,
                line,
                key_type,
                spec,
                issuer: Some(ca),
                is_ca: false,
                allow_outlive: l.allow_outlive_issuer,
                dir: None,
                cert_out: Some((cert, l.chain.unwrap_or(true))),
                key_out: Some(key),
                revoked,
            });
            check_lifetime(path, &entities, idx)?;
        }
    }
    // formats the keys can take
    for en in &entities {
        if let Some(k) = &en.key_out {
            check_format(path, en, k)?;
        }
    }
    let find = |line: usize, what: &str, name: &str, ca_only: bool| -> Result<usize> {
        by_name
            .get(name)
            .copied()
            .filter(|&i| !ca_only || entities[i].is_ca)
            .ok_or_else(|| {
                at(
                    path,
                    line,
                    format!(
                        "{what}: '{name}' is not {} of the plan",
                        if ca_only {
                            "a [[ca]]"
                        } else {
                            "a [[ca]] or [[leaf]]"
                        }
                    ),
                )
            })
    };
    let mut conversions = Vec::new();
    for k in &file.key {
        let line = line_of(text, k.span().start);
        let k = k.get_ref();
        let from = find(line, "[[key]] from", &k.from, false)?;
        let out = KeyOut {
            path: out_path(&k.out).map_err(|e| at(path, line, format!("[[key]] out: {e}")))?,
            format: KeyFormat::parse(k.format.as_deref())
                .map_err(|e| at(path, line, format!("[[key]]: {e}")))?,
            passphrase: k.passphrase.clone(),
        };
        check_format(path, &entities[from], &out).map_err(|_| {
            at(
                path,
                line,
                format!(
                    "[[key]]: the key of '{}' ({}) cannot be written as {:?}",
                    k.from,
                    entities[from].key_type.name(),
                    out.format
                ),
            )
        })?;
        conversions.push(ConvOut { line, from, out });
    }
    let mut crl_days: HashMap<usize, u32> = HashMap::new();
    let mut crl_files = Vec::new();
    for c in &file.crl {
        let line = line_of(text, c.span().start);
        let c = c.get_ref();
        let ca = find(line, "[[crl]] ca", &c.ca, true)?;
        let days = c.days.or(d.crl_days).unwrap_or(crate::ca::DEFAULT_CRL_DAYS);
        if days == 0 {
            return Err(at(path, line, "[[crl]]: days must be at least 1"));
        }
        if let Some(&other) = crl_days.get(&ca)
            && other != days
        {
            return Err(at(
                path,
                line,
                format!(
                    "[[crl]]: the CRL of '{}' is signed once; give every [[crl]] of it the same days",
                    c.ca
                ),
            ));
        }
        crl_days.insert(ca, days);
        let p = out_path(&c.out).map_err(|e| at(path, line, format!("[[crl]] out: {e}")))?;
        crl_files.push((ca, p, line));
    }
    let mut bundles = Vec::new();
    for b in &file.bundle {
        let line = line_of(text, b.span().start);
        let b = b.get_ref();
        if b.certs.is_empty() == b.crls.is_empty() {
            return Err(at(
                path,
                line,
                "[[bundle]]: give either certs = [...] or crls = [...]",
            ));
        }
        let mut parts = Vec::new();
        for n in &b.certs {
            parts.push(Part::Cert(find(line, "[[bundle]] certs", n, false)?));
        }
        for n in &b.crls {
            parts.push(Part::Crl(find(line, "[[bundle]] crls", n, true)?));
        }
        let p = out_path(&b.out).map_err(|e| at(path, line, format!("[[bundle]] out: {e}")))?;
        bundles.push(BundleOut {
            line,
            path: p,
            parts,
        });
    }
    let mut crl_dirs = Vec::new();
    for c in &file.crl_dir {
        let line = line_of(text, c.span().start);
        let c = c.get_ref();
        let cas = c
            .crls
            .iter()
            .map(|n| find(line, "[[crl_dir]] crls", n, true))
            .collect::<Result<Vec<_>>>()?;
        if cas.is_empty() {
            return Err(at(
                path,
                line,
                "[[crl_dir]]: crls = [...] names at least one [[ca]]",
            ));
        }
        let p = out_path(&c.out).map_err(|e| at(path, line, format!("[[crl_dir]] out: {e}")))?;
        crl_dirs.push(CrlDirOut { line, path: p, cas });
    }
    if entities.is_empty() {
        return Err(at(path, 1, "the plan makes nothing: add a [[ca]]"));
    }
    let plan = Plan {
        entities,
        ca_order,
        conversions,
        crl_days,
        default_crl_days: d.crl_days.unwrap_or(crate::ca::DEFAULT_CRL_DAYS),
        crl_files,
        bundles,
        crl_dirs,
    };
    check_outputs(path, &plan)?;
    Ok(plan)
}

/// An explicit lifetime past the issuer's is refused unless allowed, as `issue` refuses it.
fn check_lifetime(path: &Path, entities: &[Entity], i: usize) -> Result<()> {
    let en = &entities[i];
    let Some(p) = en.issuer else { return Ok(()) };
    let parent = &entities[p].spec.validity;
    let v = &en.spec.validity;
    if v.explicit
        && !en.allow_outlive
        && v.not_after > parent.not_after
        && v.not_after - parent.not_after >= Duration::days(1)
    {
        return Err(at(
            path,
            en.line,
            format!(
                "'{}' would expire ({}) after its issuer '{}' ({}); shorten it, or set allow_outlive_issuer = true",
                en.name,
                crate::pki::inspect::when(v.not_after),
                entities[p].name,
                crate::pki::inspect::when(parent.not_after)
            ),
        ));
    }
    if en.is_ca && entities[p].spec.pathlen == Some(0) {
        return Err(at(
            path,
            en.line,
            format!(
                "'{}': its parent '{}' has pathlen 0",
                en.name, entities[p].name
            ),
        ));
    }
    Ok(())
}

fn check_format(path: &Path, en: &Entity, k: &KeyOut) -> Result<()> {
    let rsa = matches!(
        en.key_type,
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096
    );
    let ec = matches!(en.key_type, KeyType::EcdsaP256 | KeyType::EcdsaP384);
    let bad = match k.format {
        KeyFormat::Pkcs1 => !rsa,
        KeyFormat::Sec1 => !ec,
        _ => false,
    } || (k.passphrase.is_some() && !matches!(k.format, KeyFormat::Pem | KeyFormat::Der));
    if bad {
        return Err(at(
            path,
            en.line,
            format!(
                "'{}': a {} key cannot be written as {:?}{}",
                en.name,
                en.key_type.name(),
                k.format,
                if k.passphrase.is_some() {
                    " with a passphrase (encrypted keys are PKCS#8: pem or der)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(())
}

/// Every output path once, none inside a CA directory, no CA directory inside another.
fn check_outputs(path: &Path, plan: &Plan) -> Result<()> {
    let mut seen: BTreeMap<PathBuf, usize> = BTreeMap::new();
    let mut dirs: Vec<(&PathBuf, usize)> = Vec::new();
    let mut outs: Vec<(&PathBuf, usize)> = Vec::new();
    for en in &plan.entities {
        if let Some(d) = &en.dir {
            dirs.push((d, en.line));
        }
        if let Some((p, _)) = &en.cert_out {
            outs.push((p, en.line));
        }
        if let Some(k) = &en.key_out {
            outs.push((&k.path, en.line));
        }
    }
    for c in &plan.conversions {
        outs.push((&c.out.path, c.line));
    }
    for (_, p, line) in &plan.crl_files {
        outs.push((p, *line));
    }
    for b in &plan.bundles {
        outs.push((&b.path, b.line));
    }
    for c in &plan.crl_dirs {
        outs.push((&c.path, c.line));
    }
    for (p, line) in outs.iter().chain(dirs.iter()) {
        if let Some(first) = seen.insert((*p).clone(), *line) {
            return Err(at(
                path,
                *line,
                format!("{} is written twice (also by line {first})", p.display()),
            ));
        }
    }
    for (d, line) in &dirs {
        for (p, _) in outs.iter().chain(dirs.iter()) {
            if p != d && p.starts_with(d) {
                return Err(at(
                    path,
                    *line,
                    format!(
                        "{} lies inside the CA directory {}; put it elsewhere",
                        p.display(),
                        d.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Making it

/// `f` over `items` on up to `jobs` threads, results in order; `tick` after each.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
    tick: &(dyn Fn() + Sync),
) -> Vec<R> {
    let jobs = jobs.clamp(1, items.len().max(1));
    if jobs == 1 {
        return items
            .iter()
            .map(|t| {
                let r = f(t);
                tick();
                r
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(t) = items.get(i) else { break };
                        mine.push((i, f(t)));
                        tick();
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a mint worker panicked"))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// What `mint` made.
pub struct Minted {
    /// Every file, under the output directory as it was given.
    pub files: Vec<crate::files::Written>,
    /// Every certificate, with its plan name and whether it is a CA.
    pub certificates: Vec<(String, bool, CertInfo)>,
}

/// An existing empty directory: `rename(2)` replaces it (a `mktemp -d` given as `--out`).
pub fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

fn key_bytes(key: &PrivateKey, k: &KeyOut) -> Result<Vec<u8>, String> {
    let e = |x: crate::pki::key::KeyError| x.to_string();
    Ok(match (k.format, &k.passphrase) {
        (KeyFormat::Pem, None) => key.pkcs8_pem().into_bytes(),
        (KeyFormat::Der, None) => key.pkcs8_der().to_vec(),
        (KeyFormat::Pem, Some(p)) => key.encrypted_pem(p).map_err(e)?.into_bytes(),
        (KeyFormat::Der, Some(p)) => {
            let pem = key.encrypted_pem(p).map_err(e)?;
            ::pem::parse(pem.as_bytes())
                .map_err(|x| x.to_string())?
                .into_contents()
        }
        (KeyFormat::Pkcs1, _) => key.pkcs1_pem().map_err(e)?.into_bytes(),
        (KeyFormat::Sec1, _) => key.sec1_pem().map_err(e)?.into_bytes(),
    })
}

/// Make everything `plan` says into the new directory `out` (which must not exist, or be
/// empty), with up to `jobs` threads; `progress(done, total)` is called as certificates are
/// made; `owner(rel)` gives a file (and the directories made for it) to another user.
pub fn mint(
    plan: &Plan,
    out: &Path,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
    owner: &dyn Fn(&Path) -> Option<(u32, u32)>,
) -> Result<Minted> {
    // the target: absolute (openssl.cnf names it), new or empty, its parent made
    let aside = crate::ca::create::aside(out)?;
    if aside.target.exists() && !is_empty_dir(&aside.target) {
        crate::files::remove_created_dirs(&aside.made_parents);
        return Err(
            anyhow!("{} already exists and is not empty", out.display()).context(Hint::new(
                "mint makes a new directory; remove it or choose another --out",
            )),
        );
    }
    // a failure leaves no trace: the tree is removed (NewDir), and so are the parents made
    make(plan, out, &aside, jobs, progress, owner)
        .inspect_err(|_| crate::files::remove_created_dirs(&aside.made_parents))
}

fn make(
    plan: &Plan,
    out: &Path,
    aside: &crate::ca::create::Aside,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
    owner: &dyn Fn(&Path) -> Option<(u32, u32)>,
) -> Result<Minted> {
    let ents = &plan.entities;
    let total = ents.len() * 2;
    let done = AtomicUsize::new(0);
    let tick = || progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
    let abs_out = aside.target.clone();
    // keys, spread over the cores
    let keys: Vec<PrivateKey> = par_map(ents, jobs, |en| PrivateKey::generate(en.key_type), &tick)
        .into_iter()
        .zip(ents)
        .map(|(k, en)| k.map_err(|e| anyhow!("'{}': {e}", en.name)))
        .collect::<Result<_>>()?;
    // serials, handed out in plan order: CAs (dependency order), then leaves
    let mut next_serial: HashMap<usize, Serial> = HashMap::new();
    for &i in &plan.ca_order {
        next_serial.insert(i, ents[i].spec.serial.clone());
    }
    // (a CA's own serial above is its first serial to hand out; its certificate's serial comes
    // from its parent, or is random for a root)
    let mut serials: Vec<Serial> = vec![Serial::random(); ents.len()];
    let order: Vec<usize> = plan
        .ca_order
        .iter()
        .copied()
        .chain((0..ents.len()).filter(|&i| !ents[i].is_ca))
        .collect();
    for &i in &order {
        if let Some(p) = ents[i].issuer {
            let s = next_serial.get_mut(&p).expect("CAs come first");
            serials[i] = s.clone();
            *s = s.next();
        }
    }
    // the CAs, parents first
    let mut certs: Vec<Option<CertInfo>> = vec![None; ents.len()];
    let mut signers: HashMap<usize, CaSigner> = HashMap::new();
    let mut keys: Vec<Option<PrivateKey>> = keys.into_iter().map(Some).collect();
    for &i in &plan.ca_order {
        let en = &ents[i];
        let mut spec = en.spec.clone();
        spec.serial = serials[i].clone();
        let key = keys[i].take().expect("each key once");
        let issued = match en.issuer {
            None => issue::self_signed(&spec, &key),
            Some(p) => issue::issue(
                &spec,
                &key.spki_der(),
                key.kind().is_rsa(),
                &signers[&p],
                en.allow_outlive,
            ),
        }
        .map_err(|e| anyhow!("'{}' (line {}): {e}", en.name, en.line))?;
        tick();
        certs[i] = Some(issued.cert.clone());
        signers.insert(
            i,
            CaSigner::new(issued.cert, key).map_err(|e| anyhow!("'{}': {e}", en.name))?,
        );
    }
    // the leaves, in parallel
    let leaves: Vec<usize> = (0..ents.len()).filter(|&i| !ents[i].is_ca).collect();
    let leaf_keys: Vec<(usize, PrivateKey)> = leaves
        .iter()
        .map(|&i| (i, keys[i].take().expect("each key once")))
        .collect();
    let signed = par_map(
        &leaf_keys,
        jobs,
        |(i, key)| {
            let en = &ents[*i];
            let mut spec = en.spec.clone();
            spec.serial = serials[*i].clone();
            let ca = &signers[&en.issuer.expect("leaves have a CA")];
            issue::issue(
                &spec,
                &key.spki_der(),
                key.kind().is_rsa(),
                ca,
                en.allow_outlive,
            )
            .map_err(|e| anyhow!("'{}' (line {}): {e}", en.name, en.line))
        },
        &tick,
    );
    let mut leaf_key: HashMap<usize, PrivateKey> = HashMap::new();
    for ((i, key), r) in leaf_keys.into_iter().zip(signed) {
        certs[i] = Some(r?.cert);
        leaf_key.insert(i, key);
    }
    let cert = |i: usize| certs[i].as_ref().expect("every certificate is made");
    let key_of = |i: usize| -> &PrivateKey {
        signers
            .get(&i)
            .map(CaSigner::key)
            .or_else(|| leaf_key.get(&i))
            .expect("every key is kept")
    };
    // each CA's records: index lines in serial order, revocations, its CRL
    let now = OffsetDateTime::now_utc();
    let mut index: HashMap<usize, String> = HashMap::new();
    let mut revoked: HashMap<usize, Vec<Revoked>> = HashMap::new();
    for &i in &order {
        let Some(p) = ents[i].issuer else { continue };
        let mut entry = IndexEntry::for_new_cert(cert(i));
        if let Some(reason) = ents[i].revoked {
            entry.revoke(now, reason);
            revoked.entry(p).or_default().push(Revoked {
                serial: cert(i).serial.clone(),
                time: now,
                reason: reason.and_then(revocation::rcgen_reason),
            });
        }
        let text = index.entry(p).or_default();
        text.push_str(&entry.to_string());
        text.push('\n');
    }
    let crl_number = Serial::from_bytes(&[1]);
    let mut crls: HashMap<usize, Vec<u8>> = HashMap::new();
    for &i in &plan.ca_order {
        let days = plan
            .crl_days
            .get(&i)
            .copied()
            .unwrap_or(plan.default_crl_days);
        let der = crl::sign_crl(
            &signers[&i],
            &crl_number,
            revoked.get(&i).map_or(&[][..], Vec::as_slice),
            days,
            now,
        )
        .map_err(|e| anyhow!("the CRL of '{}': {e}", ents[i].name))?;
        crls.insert(i, der);
    }
    // the CAs above one, its issuer first, and its root
    let above = |i: usize| -> (Vec<CertInfo>, CertInfo) {
        let mut chain = Vec::new();
        let mut at = i;
        while let Some(p) = ents[at].issuer {
            chain.push(at);
            at = p;
        }
        (
            chain.iter().map(|&c| cert(c).clone()).collect(),
            cert(at).clone(),
        )
    };
    // every file
    let mut out_files: Vec<TreeFile> = Vec::new();
    let mut written: Vec<crate::files::Written> = Vec::new();
    let mut add = |rel: PathBuf, bytes: Vec<u8>, kind: &'static str, key: bool| {
        written.push(crate::files::Written {
            path: out.join(&rel),
            kind,
            mode: if key { "0600" } else { "0644" }.into(),
            changed: true,
        });
        let owner = owner(&rel);
        out_files.push(TreeFile {
            rel,
            bytes,
            key,
            owner,
        });
    };
    for &i in &plan.ca_order {
        let en = &ents[i];
        let dir = en.dir.as_ref().expect("a CA has a directory");
        let (mut chain, root) = above(i);
        if !chain.is_empty() {
            chain.remove(0); // the CA itself: ca_dir_files puts it first
        }
        let parent_crls: String = {
            let mut s = String::new();
            let mut at = en.issuer;
            while let Some(p) = at {
                s.push_str(&to_pem("X509 CRL", &crls[&p]));
                at = ents[p].issuer;
            }
            s
        };
        let parent_rel = en.issuer.map(|p| {
            revocation::relative_path(
                &abs_out.join(dir),
                &abs_out.join(ents[p].dir.as_ref().expect("a CA has a directory")),
            )
        });
        let roots = [root];
        let around = CaAround {
            above: &chain,
            roots: &roots,
            parent_crls: &parent_crls,
            parent_rel: parent_rel.as_deref(),
            key_passphrase: None,
        };
        let first = en.spec.serial.clone();
        let state = CaState {
            serial: next_serial.get(&i).cloned().unwrap_or(first),
            index: index.remove(&i).unwrap_or_default(),
            crl_number: crl_number.clone(),
            crl_der: crls[&i].clone(),
        };
        for f in ca_dir_files(dir, &abs_out.join(dir), &signers[&i], &around, &state, true)? {
            add(f.path, f.bytes, f.kind, f.key);
        }
    }
    // newcerts/<SERIAL>.pem of every certificate a CA signed
    for &i in &order {
        if let Some(p) = ents[i].issuer {
            let dir = CaDir::at(ents[p].dir.as_ref().expect("a CA has a directory"));
            add(
                dir.newcerts().join(format!("{}.pem", cert(i).serial)),
                cert(i).pem().into_bytes(),
                "certificate (CA database copy)",
                false,
            );
        }
    }
    for (i, en) in ents.iter().enumerate() {
        if let Some((p, with_chain)) = &en.cert_out {
            let mut pem = cert(i).pem();
            if *with_chain && !en.is_ca {
                let (chain, _) = above(en.issuer.expect("leaves have a CA"));
                for c in &chain {
                    pem.push_str(&c.pem());
                }
            }
            add(
                p.clone(),
                pem.into_bytes(),
                if en.is_ca {
                    "CA certificate"
                } else {
                    "certificate"
                },
                false,
            );
        }
        if let Some(k) = &en.key_out {
            let bytes = key_bytes(key_of(i), k).map_err(|e| anyhow!("'{}': {e}", en.name))?;
            add(k.path.clone(), bytes, "private key", true);
        }
    }
    for c in &plan.conversions {
        let bytes = key_bytes(key_of(c.from), &c.out)
            .map_err(|e| anyhow!("'{}': {e}", ents[c.from].name))?;
        add(c.out.path.clone(), bytes, "private key", true);
    }
    for (ca, p, _) in &plan.crl_files {
        add(
            p.clone(),
            to_pem("X509 CRL", &crls[ca]).into_bytes(),
            "CRL",
            false,
        );
    }
    for b in &plan.bundles {
        let mut pem = String::new();
        for part in &b.parts {
            match part {
                Part::Cert(i) => pem.push_str(&cert(*i).pem()),
                Part::Crl(i) => pem.push_str(&to_pem("X509 CRL", &crls[i])),
            }
        }
        let kind = if matches!(b.parts.first(), Some(Part::Crl(_))) {
            "CRLs"
        } else {
            "certificates"
        };
        add(b.path.clone(), pem.into_bytes(), kind, false);
    }
    for d in &plan.crl_dirs {
        let mut used: HashMap<String, u32> = HashMap::new();
        for &ca in &d.cas {
            let hash =
                crate::pki::hash::cert_subject_hash(&cert(ca).der).map_err(|e| anyhow!(e))?;
            let n = used.entry(hash.clone()).or_insert(0);
            add(
                d.path.join(format!("{hash}.r{n}")),
                to_pem("X509 CRL", &crls[&ca]).into_bytes(),
                "CRL (hashed name)",
                false,
            );
            *n += 1;
        }
    }
    // written aside, flushed once, renamed into place
    // (removed again if anything below fails: NewDir's drop)
    let built = aside.built.clone();
    // made here, never reused (one made in advance is refused, and not removed)
    let handle = files::create_fresh_dir(&built, files::MODE_DIR)?;
    // filled through its handle: a swap of the name changes nothing inside
    let root = handle.via().to_path_buf();
    let staged = crate::ca::NewDir::new(
        aside.built.clone(),
        abs_out.clone(),
        aside.target_via.clone(),
        handle,
    );
    for &i in &plan.ca_order {
        let dir = root.join(ents[i].dir.as_ref().expect("a CA has a directory"));
        for d in ["certs", "crl", "newcerts"] {
            files::create_dir(&dir.join(d), files::MODE_DIR)?;
        }
    }
    files::write_tree(&root, &out_files)?;
    files::sync_tree(&root, &out_files)?;
    crate::ca::Placement::place(staged)?;
    Ok(Minted {
        files: written,
        certificates: (0..ents.len())
            .map(|i| (ents[i].name.clone(), ents[i].is_ca, cert(i).clone()))
            .collect(),
    })
}
