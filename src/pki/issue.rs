//! The one place that drives rcgen to sign certificates. Every rcgen default that would leak
//! into a certificate (serial derived from the key, validity 1975-4096, the "rcgen self
//! signed cert" subject, SHA-256 key ids) is set explicitly here, and every signature is
//! followed by a parse of the result that checks its issuer bytes equal the CA's subject bytes.
//!
//! Not checked here: whether files exist, locks, the CA database. That is `ca`'s job.

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyIdMethod};
use time::{Duration, OffsetDateTime};

use crate::pki::der;
use crate::pki::inspect::{CertInfo, key_id};
use crate::pki::key::PrivateKey;
use crate::pki::name::{San, Subject};
use crate::pki::profile::{Profile, ProfileKind};
use crate::pki::serial::Serial;

/// notBefore .. notAfter, whole seconds, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// The lifetime was asked for (`--days`, `--not-after`); a profile default is capped at the
    /// issuer's notAfter instead of being refused.
    pub explicit: bool,
}

impl Validity {
    /// Resolve `--days`, `--not-before` and `--not-after` against a profile's default lifetime.
    /// `--not-after` wins over `--days`; `--days` counts from notBefore.
    pub fn resolve(
        days: Option<u32>,
        not_before: Option<OffsetDateTime>,
        not_after: Option<OffsetDateTime>,
        default_days: u32,
        now: OffsetDateTime,
    ) -> Result<Validity, String> {
        let trunc = |t: OffsetDateTime| {
            t.to_offset(time::UtcOffset::UTC)
                .replace_nanosecond(0)
                .expect("0 ns is valid")
        };
        let nb = trunc(not_before.unwrap_or(now));
        let na = match not_after {
            Some(t) => trunc(t),
            None => {
                let d = days.unwrap_or(default_days);
                nb.checked_add(Duration::days(i64::from(d)))
                    .ok_or_else(|| format!("--days {d} reaches beyond the year 9999"))?
            }
        };
        if days == Some(0) {
            return Err("--days must be at least 1".into());
        }
        if na <= nb {
            return Err(format!("notAfter ({na}) is not after notBefore ({nb})"));
        }
        if na.year() > 9999 || nb.year() < 1950 {
            return Err("validity must lie between 1950 and 9999 (X.509 time encodings)".into());
        }
        Ok(Validity {
            not_before: nb,
            not_after: na,
            explicit: days.is_some() || not_after.is_some(),
        })
    }
}

/// Everything about a certificate except its keys.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// The profile (extensions, key usages).
    pub profile: Profile,
    /// Subject name.
    pub subject: Subject,
    /// SANs as asked; the CN is added for profiles with `cn_in_san`.
    pub sans: Vec<San>,
    /// Validity.
    pub validity: Validity,
    /// Serial number.
    pub serial: Serial,
    /// pathLenConstraint override for CA profiles (`--pathlen`).
    pub pathlen: Option<u8>,
}

impl CertSpec {
    /// A certificate of `profile` for `subject` and `sans`, valid for `validity`. The serial is
    /// a placeholder: issuance from a CA directory replaces it with the CA's next one.
    pub fn new(profile: Profile, subject: Subject, sans: Vec<San>, validity: Validity) -> CertSpec {
        CertSpec {
            profile,
            subject,
            sans,
            validity,
            serial: Serial::random(),
            pathlen: None,
        }
    }

    /// A certificate of the built-in profile `name`, for the profile's default lifetime from now.
    pub fn with_default_validity(
        name: &str,
        subject: Subject,
        sans: Vec<San>,
    ) -> Result<CertSpec, String> {
        let profile = Profile::builtin(name);
        let validity = Validity::resolve(
            None,
            None,
            None,
            profile.default_days,
            OffsetDateTime::now_utc(),
        )?;
        Ok(CertSpec::new(profile, subject, sans, validity))
    }

    /// The SANs the certificate will carry: the CN first when the profile wants it, then the
    /// requested ones, without duplicates.
    pub fn effective_sans(&self) -> Vec<San> {
        let mut out = Vec::new();
        if self.profile.cn_in_san
            && let Some(s) = self.subject.cn().and_then(San::for_cn)
        {
            out.push(s);
        }
        for s in &self.sans {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }

    fn params(
        &self,
        subject_spki: &[u8],
        subject_is_rsa: bool,
    ) -> Result<CertificateParams, String> {
        if self.serial.is_zero() {
            return Err("serial 0 is not allowed (RFC 5280)".into());
        }
        if self.serial.der_len() > 20 {
            return Err(format!(
                "serial {} needs {} octets; RFC 5280 allows at most 20 (and OpenSSL-based clients may refuse longer ones)",
                self.serial,
                self.serial.der_len()
            ));
        }
        let mut p = CertificateParams::default();
        p.distinguished_name = self.subject.to_rcgen();
        p.serial_number = Some(self.serial.to_rcgen());
        p.not_before = self.validity.not_before;
        p.not_after = self.validity.not_after;
        p.use_authority_key_identifier_extension = true;
        p.key_identifier_method = KeyIdMethod::PreSpecified(key_id(subject_spki)?);
        p.key_usages = self.profile.rcgen_key_usages(subject_is_rsa);
        p.extended_key_usages = self.profile.rcgen_ekus();
        p.is_ca = match self.profile.kind {
            ProfileKind::Ca => match self.pathlen.or(self.profile.pathlen) {
                Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
                None => IsCa::Ca(BasicConstraints::Unconstrained),
            },
            ProfileKind::Leaf => IsCa::ExplicitNoCa,
        };
        p.subject_alt_names = self
            .effective_sans()
            .iter()
            .map(San::to_rcgen)
            .collect::<Result<_, _>>()?;
        if self.profile.cn_in_san && p.subject_alt_names.is_empty() {
            return Err(format!(
                "the CN '{}' is not a host name or IP address; give one with --cn or --san (libpq matches host names against SANs)",
                self.subject.cn().unwrap_or("")
            ));
        }
        Ok(p)
    }
}

/// What rcgen signed, made exact: the issuer and subject names and the public key byte for byte
/// as given (rcgen re-encodes names through a map and has no RSA-PSS keys), signed again by
/// `signer` with its own algorithm (RSASSA-PSS) when anything differs or rcgen cannot write it.
fn exact(
    info: CertInfo,
    issuer: &[u8],
    subject: &[u8],
    spki: &[u8],
    signer: &PrivateKey,
) -> Result<CertInfo, String> {
    let alg = signer.signature_algorithm();
    if info.issuer_raw == issuer
        && info.subject_raw == subject
        && info.spki == spki
        && alg.is_none()
    {
        return Ok(info);
    }
    let at = der::cert_positions(&info.der)?;
    let mut replace = vec![(at.issuer, issuer), (at.subject, subject), (at.spki, spki)];
    if let Some(alg) = alg {
        replace.push((at.signature, alg));
    }
    CertInfo::parse(&der::resign(&info.der, &replace, signer)?)
}

/// A CA certificate with its private key, checked to belong together and to be a CA.
#[derive(Debug)]
pub struct CaSigner {
    cert: CertInfo,
    key: PrivateKey,
}

impl CaSigner {
    /// Pair a CA certificate with its key. Refuses a key that does not match, and a
    /// certificate that is not a CA (CA:TRUE, keyCertSign when keyUsage is present).
    pub fn new(cert: CertInfo, key: PrivateKey) -> Result<CaSigner, String> {
        if key.spki_der() != cert.spki {
            return Err("the CA private key does not match the CA certificate".into());
        }
        if !cert.is_ca {
            return Err(
                "the CA certificate is not a CA (basicConstraints CA:TRUE is missing)".into(),
            );
        }
        if cert.key_cert_sign == Some(false) {
            return Err("the CA certificate's keyUsage lacks keyCertSign".into());
        }
        Ok(CaSigner { cert, key })
    }

    /// The CA certificate.
    pub fn cert(&self) -> &CertInfo {
        &self.cert
    }

    /// The CA key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    pub(crate) fn rcgen_issuer(&self) -> Result<rcgen::Issuer<'static, &rcgen::KeyPair>, String> {
        rcgen::Issuer::from_ca_cert_der(&self.cert.der.clone().into(), self.key.pair())
            .map_err(|e| format!("cannot use the CA certificate as issuer: {e}"))
    }
}

/// What a signature produced.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The new certificate.
    pub cert: CertInfo,
}

/// Sign a self-signed certificate (a root CA, or `pgcert self-signed`).
pub fn self_signed(spec: &CertSpec, key: &PrivateKey) -> Result<Issued, String> {
    let params = spec.params(&key.spki_der(), key.kind().is_rsa())?;
    let cert = params
        .self_signed(key.pair())
        .map_err(|e| format!("signing failed: {e}"))?;
    let name = spec.subject.to_der();
    let info = exact(
        CertInfo::parse(cert.der())?,
        &name,
        &name,
        &key.spki_der(),
        key,
    )?;
    if !info.is_self_issued() {
        return Err(
            "internal check failed: the self-signed certificate's issuer differs from its subject"
                .into(),
        );
    }
    Ok(Issued { cert: info })
}

/// Sign a certificate for `subject_spki` (DER SubjectPublicKeyInfo) with a CA.
///
/// The lifetime never silently exceeds the issuer's: a default one (not `explicit`), or an
/// explicit one that overshoots by less than a day, is cut at the issuer's notAfter; a larger
/// explicit overshoot is refused unless `allow_outlive`. Always refused: an expired CA, and a
/// CA profile below a pathlen:0 CA (or beyond the parent's pathlen).
pub fn issue(
    spec: &CertSpec,
    subject_spki: &[u8],
    subject_is_rsa: bool,
    ca: &CaSigner,
    allow_outlive: bool,
) -> Result<Issued, String> {
    let ca_cert = ca.cert();
    let now = OffsetDateTime::now_utc();
    if ca_cert.not_after < now {
        return Err(format!(
            "the CA certificate expired on {}",
            ca_cert.not_after
        ));
    }
    if spec.profile.kind == ProfileKind::Ca && ca_cert.pathlen == Some(0) {
        return Err("the issuing CA has pathlen:0, so it cannot sign another CA".into());
    }
    let mut spec = spec.clone();
    if spec.validity.not_after > ca_cert.not_after
        && (!spec.validity.explicit
            || spec.validity.not_after - ca_cert.not_after < Duration::days(1))
    {
        // a default lifetime ends with the issuer's; so does an explicit one that overshoots by
        // less than a day (`--days 30` under a CA made a second earlier with `--days 30`)
        spec.validity.not_after = ca_cert.not_after;
    }
    if !allow_outlive && spec.validity.not_after > ca_cert.not_after {
        return Err(format!(
            "the certificate would expire ({}) after its issuer ({}); pass --days/--not-after to shorten it, or --allow-outlive-issuer to allow it",
            crate::pki::inspect::when(spec.validity.not_after),
            crate::pki::inspect::when(ca_cert.not_after)
        ));
    }
    if spec.validity.not_after <= spec.validity.not_before {
        return Err(format!(
            "the issuer expires ({}) before the certificate would start ({})",
            crate::pki::inspect::when(ca_cert.not_after),
            crate::pki::inspect::when(spec.validity.not_before)
        ));
    }
    if spec.profile.kind == ProfileKind::Ca
        && let Some(parent) = ca_cert.pathlen
    {
        let max = u8::try_from(parent.saturating_sub(1)).unwrap_or(u8::MAX);
        match spec.pathlen.or(spec.profile.pathlen) {
            Some(n) if n > max => {
                return Err(format!(
                    "--pathlen {n} is more than the parent CA allows ({max})"
                ));
            }
            None => spec.pathlen = Some(max),
            _ => {}
        }
    }
    let params = spec.params(subject_spki, subject_is_rsa)?;
    // rcgen reads no RSA-PSS keys: it gets the same key as rsaEncryption, replaced below
    let public = rcgen::SubjectPublicKeyInfo::from_der(&crate::pki::key::spki_as_rsa_encryption(
        subject_spki,
    ))
    .map_err(|e| format!("bad subject public key: {e}"))?;
    let issuer = ca.rcgen_issuer()?;
    let cert = params
        .signed_by(&public, &issuer)
        .map_err(|e| format!("signing failed: {e}"))?;
    // rcgen re-encodes the issuer name from the CA certificate and keeps one value per
    // attribute type in the subject: put the exact bytes in where either differs
    let subject = spec.subject.to_der();
    let info = exact(
        CertInfo::parse(cert.der())?,
        &ca_cert.subject_raw,
        &subject,
        subject_spki,
        ca.key(),
    )?;
    if info.issuer_raw != ca_cert.subject_raw || info.subject_raw != subject {
        return Err(format!(
            "the CA's subject {} cannot be reproduced exactly as an issuer name; pgcert refuses to sign a certificate that would not chain",
            ca_cert.subject
        ));
    }
    if !info.is_signed_by(ca_cert) {
        return Err(
            "internal check failed: the new certificate's signature does not verify".into(),
        );
    }
    Ok(Issued { cert: info })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::key::KeyType;

    fn spec(profile: &str, cn: &str, days: u32) -> CertSpec {
        let now = OffsetDateTime::now_utc();
        CertSpec {
            profile: Profile::builtin(profile),
            subject: Subject::from_cn(cn).unwrap(),
            sans: vec![],
            validity: Validity::resolve(Some(days), None, None, 1, now).unwrap(),
            serial: Serial::random(),
            pathlen: None,
        }
    }

    #[test]
    fn root_then_server_chain_verifies_and_carries_profile_extensions() {
        let ca_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let root = self_signed(&spec("root-ca", "Test Root", 3650), &ca_key).unwrap();
        assert!(root.cert.is_ca && root.cert.key_cert_sign == Some(true));
        assert_eq!(root.cert.ski, root.cert.aki, "a root's AKI is its own SKI");
        let signer = CaSigner::new(root.cert.clone(), ca_key).unwrap();
        let leaf_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let leaf = issue(
            &spec("server", "db.example.com", 30),
            &leaf_key.spki_der(),
            false,
            &signer,
            false,
        )
        .unwrap();
        assert!(!leaf.cert.is_ca);
        assert!(leaf.cert.is_signed_by(&root.cert));
        assert_eq!(leaf.cert.aki, root.cert.ski);
        assert_eq!(leaf.cert.subject, "/CN=db.example.com");
    }

    #[test]
    fn leaf_may_not_outlive_issuer_without_force() {
        let ca_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let root = self_signed(&spec("root-ca", "Short Root", 10), &ca_key).unwrap();
        let signer = CaSigner::new(root.cert, ca_key).unwrap();
        let k = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let s = spec("client", "alice", 365);
        assert!(
            issue(&s, &k.spki_der(), false, &signer, false)
                .unwrap_err()
                .contains("after its issuer")
        );
        assert!(issue(&s, &k.spki_der(), false, &signer, true).is_ok());
    }

    #[test]
    fn signer_refuses_mismatched_key_and_non_ca() {
        let k1 = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let k2 = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let root = self_signed(&spec("root-ca", "R", 10), &k1).unwrap();
        assert!(
            CaSigner::new(root.cert.clone(), k2)
                .unwrap_err()
                .contains("does not match")
        );
        let leaf = self_signed(&spec("client", "leaf", 10), &k1).unwrap();
        assert!(
            CaSigner::new(leaf.cert, k1)
                .unwrap_err()
                .contains("not a CA")
        );
    }

    #[test]
    fn default_lifetime_is_capped_at_the_issuer_but_an_explicit_one_is_refused() {
        let ca_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let root = self_signed(&spec("root-ca", "Short Root", 10), &ca_key).unwrap();
        let signer = CaSigner::new(root.cert.clone(), ca_key).unwrap();
        let k = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let mut s = spec("client", "alice", 365);
        s.validity = Validity::resolve(None, None, None, 365, OffsetDateTime::now_utc()).unwrap();
        let leaf = issue(&s, &k.spki_der(), false, &signer, false).unwrap();
        assert_eq!(leaf.cert.not_after, root.cert.not_after);
        // an explicit lifetime a few seconds past the issuer's is cut too...
        let later = OffsetDateTime::now_utc() + Duration::seconds(5);
        s.validity =
            Validity::resolve(Some(10), Some(later), None, 365, OffsetDateTime::now_utc()).unwrap();
        let leaf = issue(&s, &k.spki_der(), false, &signer, false).unwrap();
        assert_eq!(leaf.cert.not_after, root.cert.not_after);
        // ...but not one a day or more past it
        s.validity =
            Validity::resolve(Some(12), None, None, 365, OffsetDateTime::now_utc()).unwrap();
        assert!(
            issue(&s, &k.spki_der(), false, &signer, false)
                .unwrap_err()
                .contains("after its issuer")
        );
    }

    #[test]
    fn pathlen_zero_ca_cannot_sign_a_ca() {
        let k = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let mut s = spec("root-ca", "R0", 100);
        s.pathlen = Some(0);
        let root = self_signed(&s, &k).unwrap();
        let signer = CaSigner::new(root.cert, k).unwrap();
        let k2 = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let e = issue(
            &spec("intermediate-ca", "I", 10),
            &k2.spki_der(),
            false,
            &signer,
            false,
        )
        .unwrap_err();
        assert!(e.contains("pathlen:0"));
    }

    #[test]
    fn validity_resolution() {
        let now = OffsetDateTime::now_utc();
        let v = Validity::resolve(None, None, None, 365, now).unwrap();
        assert_eq!((v.not_after - v.not_before).whole_days(), 365);
        assert!(Validity::resolve(Some(0), None, None, 365, now).is_err());
        let past = now - Duration::days(10);
        assert!(Validity::resolve(None, Some(now), Some(past), 365, now).is_err());
    }
}
