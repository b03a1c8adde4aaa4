//! The facts of a certificate that path validation needs, decoded the way OpenSSL 3's
//! `x509v3_cache_extensions` decodes them: names in canonical form (X509_NAME_cmp compares
//! those, not the raw bytes), basicConstraints, keyUsage, extendedKeyUsage and nsCertType as
//! bit sets, key identifiers, the general names of the SAN, name constraints, unknown critical
//! extensions, malformed or duplicated extensions ("invalid" certificates, which OpenSSL never
//! uses as issuer or subject), the signature and the security bits of key and signature.
//! Also OpenSSL's name-constraint matching (v3_ncons.c), which is X.509, not PostgreSQL.
//! Nothing here decides a verdict; `postgres::verify` does.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::pki::hash::canonical_name;
use crate::pki::signature::{self, KeyFamily, SigError};

/// keyUsage bits as OpenSSL numbers them (first byte, then the second byte << 8).
pub mod ku {
    /// digitalSignature.
    pub const DIGITAL_SIGNATURE: u16 = 0x80;
    /// keyEncipherment.
    pub const KEY_ENCIPHERMENT: u16 = 0x20;
    /// keyAgreement.
    pub const KEY_AGREEMENT: u16 = 0x08;
    /// keyCertSign.
    pub const KEY_CERT_SIGN: u16 = 0x04;
    /// cRLSign.
    pub const CRL_SIGN: u16 = 0x02;
}

/// nsCertType bits (first byte of the BIT STRING).
pub mod ns {
    /// SSL client.
    pub const SSL_CLIENT: u8 = 0x80;
    /// SSL server.
    pub const SSL_SERVER: u8 = 0x40;
    /// SSL CA.
    pub const SSL_CA: u8 = 0x04;
    /// Any CA (SSL, S/MIME, object signing).
    pub const ANY_CA: u8 = 0x07;
}

/// The extendedKeyUsage purposes OpenSSL's SSL purposes look at.
#[derive(Debug, Clone, Default)]
pub struct Eku {
    /// serverAuth.
    pub server: bool,
    /// clientAuth.
    pub client: bool,
    /// Netscape or Microsoft Server Gated Crypto (counts as serverAuth).
    pub sgc: bool,
    /// anyExtendedKeyUsage.
    pub any: bool,
}

/// One general name, with the bytes OpenSSL compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gn {
    /// dNSName.
    Dns(Vec<u8>),
    /// iPAddress (4 or 16 bytes in a SAN; address + mask in a constraint).
    Ip(Vec<u8>),
    /// rfc822Name.
    Email(Vec<u8>),
    /// uniformResourceIdentifier.
    Uri(Vec<u8>),
    /// directoryName, canonical encoding.
    Dir(Vec<u8>),
    /// Any other type (otherName, x400, ediParty, registeredID), by name.
    Other(&'static str),
}

impl Gn {
    fn from_x509(g: &GeneralName<'_>) -> Gn {
        match g {
            GeneralName::DNSName(s) => Gn::Dns(s.as_bytes().to_vec()),
            GeneralName::IPAddress(b) => Gn::Ip(b.to_vec()),
            GeneralName::RFC822Name(s) => Gn::Email(s.as_bytes().to_vec()),
            GeneralName::URI(s) => Gn::Uri(s.as_bytes().to_vec()),
            GeneralName::DirectoryName(n) => Gn::Dir(canonical_name(n)),
            GeneralName::OtherName(..) => Gn::Other("otherName"),
            GeneralName::X400Address(_) => Gn::Other("x400Address"),
            GeneralName::EDIPartyName(_) => Gn::Other("ediPartyName"),
            GeneralName::RegisteredID(_) => Gn::Other("registeredID"),
            GeneralName::Invalid(..) => Gn::Other("invalid"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Gn::Dns(_) => "DNS",
            Gn::Ip(_) => "IP",
            Gn::Email(_) => "email",
            Gn::Uri(_) => "URI",
            Gn::Dir(_) => "directoryName",
            Gn::Other(k) => k,
        }
    }

    /// Text for messages.
    pub fn describe(&self) -> String {
        match self {
            Gn::Dns(b) | Gn::Email(b) | Gn::Uri(b) => {
                format!("{}:{}", self.kind(), String::from_utf8_lossy(b))
            }
            Gn::Ip(b) => match b.len() {
                4 => format!(
                    "IP:{}",
                    std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&b[..]).expect("4"))
                ),
                16 => format!(
                    "IP:{}",
                    std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&b[..]).expect("16"))
                ),
                8 | 32 => {
                    let (a, m) = b.split_at(b.len() / 2);
                    format!(
                        "IP:{}/{}",
                        Gn::Ip(a.to_vec()).describe().trim_start_matches("IP:"),
                        Gn::Ip(m.to_vec()).describe().trim_start_matches("IP:")
                    )
                }
                n => format!("IP:<{n} bytes>"),
            },
            Gn::Dir(_) => "a directoryName".into(),
            Gn::Other(k) => (*k).to_string(),
        }
    }
}

/// nameConstraints.
#[derive(Debug, Clone, Default)]
pub struct NameConstraints {
    /// permittedSubtrees.
    pub permitted: Vec<Gn>,
    /// excludedSubtrees.
    pub excluded: Vec<Gn>,
}

/// What path validation needs to know about one certificate.
#[derive(Debug, Clone)]
pub struct Facts {
    /// X.509 version (1, 2 or 3).
    pub version: u32,
    /// Canonical subject (X509_NAME_cmp compares these).
    pub subject: Vec<u8>,
    /// Canonical issuer.
    pub issuer: Vec<u8>,
    /// Raw serial bytes.
    pub serial: Vec<u8>,
    /// basicConstraints: (cA, pathLenConstraint).
    pub bc: Option<(bool, Option<u32>)>,
    /// keyUsage bits, when present.
    pub ku: Option<u16>,
    /// extendedKeyUsage, when present.
    pub eku: Option<Eku>,
    /// nsCertType first byte, when present.
    pub ns_cert_type: Option<u8>,
    /// subjectKeyIdentifier.
    pub ski: Option<Vec<u8>>,
    /// authorityKeyIdentifier: keyIdentifier.
    pub aki_keyid: Option<Vec<u8>>,
    /// authorityKeyIdentifier: authorityCertSerialNumber.
    pub aki_serial: Option<Vec<u8>>,
    /// authorityKeyIdentifier: canonical directoryNames of authorityCertIssuer.
    pub aki_issuer: Vec<Vec<u8>>,
    /// Subject alternative names, in order.
    pub san: Vec<Gn>,
    /// A SAN extension is present.
    pub has_san: bool,
    /// emailAddress attributes of the subject (bytes, and whether each is an IA5String).
    pub subject_emails: Vec<(Vec<u8>, bool)>,
    /// commonName attributes of the subject, as UTF-8 bytes.
    pub subject_cns: Vec<Vec<u8>>,
    /// The subject has at least one attribute.
    pub subject_nonempty: bool,
    /// nameConstraints, when present.
    pub name_constraints: Option<NameConstraints>,
    /// OIDs of critical extensions OpenSSL does not handle.
    pub unknown_critical: Vec<String>,
    /// Why OpenSSL would mark the certificate invalid (a malformed or repeated extension).
    pub invalid: Option<String>,
    /// The signature algorithm's key family.
    pub sig_family: KeyFamily,
    /// The subject key's family.
    pub key_family: KeyFamily,
    /// Security bits of the subject key.
    pub key_bits: Option<u32>,
    /// Security bits of the signature.
    pub sig_bits: Option<u32>,
    /// Short name of the signature algorithm, for messages.
    pub sig_name: String,
    der: Vec<u8>,
}

/// OIDs of the extensions X509_supported_extension knows (OpenSSL 3.0).
const SUPPORTED: &[&str] = &[
    "2.16.840.1.113730.1.1", // nsCertType
    "2.5.29.15",             // keyUsage
    "2.5.29.17",             // subjectAltName
    "2.5.29.19",             // basicConstraints
    "2.5.29.32",             // certificatePolicies
    "2.5.29.31",             // cRLDistributionPoints
    "2.5.29.37",             // extendedKeyUsage
    "1.3.6.1.5.5.7.48.1.5",  // id-pkix-ocsp-nocheck
    "1.3.6.1.5.5.7.1.7",     // sbgp-ipAddrBlock
    "1.3.6.1.5.5.7.1.8",     // sbgp-autonomousSysNum
    "2.5.29.36",             // policyConstraints
    "1.3.6.1.5.5.7.1.14",    // proxyCertInfo
    "2.5.29.30",             // nameConstraints
    "2.5.29.33",             // policyMappings
    "2.5.29.54",             // inhibitAnyPolicy
];

/// Extensions x509v3_cache_extensions decodes: a repeated or undecodable one makes the
/// certificate invalid.
const DECODED: &[(&str, &str)] = &[
    ("2.5.29.19", "basicConstraints"),
    ("2.5.29.15", "keyUsage"),
    ("2.5.29.37", "extendedKeyUsage"),
    ("2.16.840.1.113730.1.1", "nsCertType"),
    ("2.5.29.14", "subjectKeyIdentifier"),
    ("2.5.29.35", "authorityKeyIdentifier"),
    ("2.5.29.17", "subjectAltName"),
    ("2.5.29.30", "nameConstraints"),
    ("2.5.29.31", "cRLDistributionPoints"),
    ("1.3.6.1.5.5.7.1.14", "proxyCertInfo"),
];

fn bits_value(raw: &[u8]) -> Option<u16> {
    // a DER BIT STRING: 03 len unused data...
    let (_, bs) = x509_parser::der_parser::der::parse_der_bitstring(raw).ok()?;
    let d = bs.as_bitstring().ok()?.data.to_vec();
    Some(u16::from(*d.first().unwrap_or(&0)) | (u16::from(*d.get(1).unwrap_or(&0)) << 8))
}

impl Facts {
    /// Decode a DER certificate.
    pub fn parse(der: &[u8]) -> Result<Facts, String> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
        let mut f = Facts {
            version: cert.version().0 + 1,
            subject: canonical_name(cert.subject()),
            issuer: canonical_name(cert.issuer()),
            serial: cert.raw_serial().to_vec(),
            bc: None,
            ku: None,
            eku: None,
            ns_cert_type: None,
            ski: None,
            aki_keyid: None,
            aki_serial: None,
            aki_issuer: Vec::new(),
            san: Vec::new(),
            has_san: false,
            subject_emails: Vec::new(),
            subject_cns: Vec::new(),
            subject_nonempty: cert.subject().iter_attributes().next().is_some(),
            name_constraints: None,
            unknown_critical: Vec::new(),
            invalid: None,
            sig_family: signature::signature_key_family(&cert.signature_algorithm),
            key_family: signature::key_family(cert.public_key()),
            key_bits: signature::key_security_bits(cert.public_key().raw),
            sig_bits: signature::signature_security_bits(&cert.signature_algorithm),
            sig_name: crate::pki::name::short_name(
                &cert.signature_algorithm.algorithm.to_id_string(),
            )
            .map(str::to_string)
            .unwrap_or_else(|| cert.signature_algorithm.algorithm.to_id_string()),
            der: der.to_vec(),
        };
        for atv in cert.subject().iter_attributes() {
            let oid = atv.attr_type().to_id_string();
            let v = atv.attr_value();
            if oid == "1.2.840.113549.1.9.1" {
                f.subject_emails.push((
                    v.data.to_vec(),
                    v.header.tag() == x509_parser::der_parser::asn1_rs::Tag::Ia5String,
                ));
            } else if oid == "2.5.4.3" {
                let text = match atv.as_str() {
                    Ok(s) => s.as_bytes().to_vec(),
                    Err(_) => v.data.to_vec(),
                };
                f.subject_cns.push(text);
            }
        }
        let mut seen: Vec<String> = Vec::new();
        for ext in cert.extensions() {
            let oid = ext.oid.to_id_string();
            let decoded = DECODED.iter().find(|(o, _)| *o == oid).map(|(_, n)| *n);
            if seen.contains(&oid)
                && let Some(n) = decoded
            {
                f.invalid.get_or_insert(format!("{n} appears twice"));
            }
            seen.push(oid.clone());
            if ext.critical && !SUPPORTED.contains(&oid.as_str()) {
                f.unknown_critical.push(
                    decoded
                        .map(str::to_string)
                        .or_else(|| crate::pki::name::short_name(&oid).map(str::to_string))
                        .unwrap_or(oid.clone()),
                );
            }
            let malformed = |f: &mut Facts, why: String| {
                if let Some(n) = decoded {
                    f.invalid.get_or_insert(format!("malformed {n}: {why}"));
                }
            };
            match ext.parsed_extension() {
                ParsedExtension::ParseError { error } => malformed(&mut f, error.to_string()),
                ParsedExtension::BasicConstraints(b) if f.bc.is_none() => {
                    f.bc = Some((b.ca, b.path_len_constraint));
                }
                ParsedExtension::KeyUsage(_) if f.ku.is_none() => {
                    f.ku = bits_value(ext.value);
                    if f.ku.is_none() {
                        malformed(&mut f, "not a BIT STRING".into());
                    }
                }
                ParsedExtension::ExtendedKeyUsage(e) if f.eku.is_none() => {
                    let other: Vec<String> = e.other.iter().map(|o| o.to_id_string()).collect();
                    f.eku = Some(Eku {
                        server: e.server_auth,
                        client: e.client_auth,
                        any: e.any,
                        sgc: other
                            .iter()
                            .any(|o| o == "2.16.840.1.113730.4.1" || o == "1.3.6.1.4.1.311.10.3.3"),
                    });
                }
                ParsedExtension::NSCertType(_) if f.ns_cert_type.is_none() => {
                    f.ns_cert_type = bits_value(ext.value).map(|v| (v & 0xff) as u8);
                }
                ParsedExtension::SubjectKeyIdentifier(k) => {
                    f.ski.get_or_insert(k.0.to_vec());
                }
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    f.aki_keyid = a.key_identifier.as_ref().map(|k| k.0.to_vec());
                    f.aki_serial = a.authority_cert_serial.map(<[u8]>::to_vec);
                    f.aki_issuer = a
                        .authority_cert_issuer
                        .iter()
                        .flatten()
                        .filter_map(|g| match g {
                            GeneralName::DirectoryName(n) => Some(canonical_name(n)),
                            _ => None,
                        })
                        .collect();
                }
                ParsedExtension::SubjectAlternativeName(s) if !f.has_san => {
                    f.has_san = true;
                    f.san = s.general_names.iter().map(Gn::from_x509).collect();
                    if s.general_names
                        .iter()
                        .any(|g| matches!(g, GeneralName::Invalid(..)))
                    {
                        malformed(&mut f, "a name that does not decode".into());
                    }
                }
                ParsedExtension::NameConstraints(nc) => {
                    let list = |v: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
                        v.iter()
                            .flatten()
                            .map(|s| Gn::from_x509(&s.base))
                            .collect::<Vec<_>>()
                    };
                    f.name_constraints = Some(NameConstraints {
                        permitted: list(&nc.permitted_subtrees),
                        excluded: list(&nc.excluded_subtrees),
                    });
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Subject and issuer compare equal (EXFLAG_SI).
    pub fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// keyUsage present and lacking every bit of `bits` (OpenSSL's ku_reject).
    pub fn ku_reject(&self, bits: u16) -> bool {
        self.ku.is_some_and(|k| k & bits == 0)
    }

    /// nsCertType present and lacking every bit of `bits`.
    pub fn ns_reject(&self, bits: u8) -> bool {
        self.ns_cert_type.is_some_and(|n| n & bits == 0)
    }

    /// OpenSSL's self-signed test without the signature (EXFLAG_SS): self-issued, its own
    /// authority key id agrees, and keyUsage (if any) allows keyCertSign.
    pub fn self_signed(&self) -> bool {
        self.self_issued() && self.akid_matches(self) && !self.ku_reject(ku::KEY_CERT_SIGN)
    }

    /// X509_check_akid(issuer, self.akid) == OK.
    pub fn akid_matches(&self, issuer: &Facts) -> bool {
        if let (Some(k), Some(s)) = (&self.aki_keyid, &issuer.ski)
            && k != s
        {
            return false;
        }
        if let Some(serial) = &self.aki_serial
            && strip_zeros(serial) != strip_zeros(&issuer.serial)
        {
            return false;
        }
        if !self.aki_issuer.is_empty() && !self.aki_issuer.contains(&issuer.issuer) {
            return false;
        }
        true
    }

    /// ossl_x509_likely_issued: names, key ids and the key family of the signature agree.
    /// An invalid certificate is never an issuer or a subject.
    pub fn likely_issued_by(&self, issuer: &Facts) -> bool {
        self.issuer == issuer.subject
            && self.invalid.is_none()
            && issuer.invalid.is_none()
            && self.akid_matches(issuer)
            && (issuer.key_family == KeyFamily::Other || self.sig_family == issuer.key_family)
    }

    /// X509_check_ca: 0 not a CA, 1 basicConstraints CA:TRUE, 3 a v1 self-signed root,
    /// 4 keyUsage with keyCertSign and no basicConstraints, 5 an nsCertType CA.
    pub fn check_ca(&self) -> u8 {
        if self.invalid.is_some() || self.ku_reject(ku::KEY_CERT_SIGN) {
            return 0;
        }
        match self.bc {
            Some((ca, _)) => u8::from(ca),
            None if self.version == 1 && self.self_signed() => 3,
            None if self.ku.is_some() => 4,
            None if self.ns_cert_type.is_some_and(|n| n & ns::ANY_CA != 0) => 5,
            None => 0,
        }
    }

    /// pathLenConstraint, when basicConstraints has one.
    pub fn pathlen(&self) -> Option<u32> {
        self.bc.and_then(|(_, p)| p)
    }

    /// Check this certificate's signature with `issuer`'s key.
    pub fn signature_by(&self, issuer_spki: &[u8]) -> Result<(), SigError> {
        let (_, cert) = X509Certificate::from_der(&self.der)
            .map_err(|e| SigError::Unsupported(e.to_string()))?;
        signature::verify(
            issuer_spki,
            &cert.signature_algorithm,
            &cert.signature_value.data,
            cert.tbs_certificate.as_ref(),
        )
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&x| x == 0).count();
    &b[n.min(b.len().saturating_sub(1))..]
}

// ---- name constraints (OpenSSL v3_ncons.c) ----

fn ia5_eq_nocase(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

/// nc_dns: an empty base matches everything; else the name ends with the base, on a label
/// boundary unless the base starts with a dot.
fn nc_dns(name: &[u8], base: &[u8]) -> bool {
    if base.is_empty() {
        return true;
    }
    if name.len() < base.len() {
        return false;
    }
    let tail = &name[name.len() - base.len()..];
    if name.len() > base.len() && base[0] != b'.' && name[name.len() - base.len() - 1] != b'.' {
        return false;
    }
    ia5_eq_nocase(base, tail)
}

/// nc_email; Err for an address without '@' (unsupported name syntax).
fn nc_email(eml: &[u8], base: &[u8]) -> Result<bool, String> {
    let Some(at) = eml.iter().rposition(|&c| c == b'@') else {
        return Err(format!(
            "the email address {} has no '@'",
            String::from_utf8_lossy(eml)
        ));
    };
    let base_at = base.iter().rposition(|&c| c == b'@');
    if base_at.is_none() && base.first() == Some(&b'.') {
        return Ok(eml.len() > base.len() && ia5_eq_nocase(base, &eml[eml.len() - base.len()..]));
    }
    let mut base_host = base;
    if let Some(ba) = base_at {
        if ba != 0 && (ba != at || base[..ba] != eml[..at]) {
            return Ok(false);
        }
        base_host = &base[ba + 1..];
    }
    Ok(ia5_eq_nocase(base_host, &eml[at + 1..]))
}

/// nc_uri: the host part of the URI against the base (a leading '.' matches subdomains).
fn nc_uri(uri: &[u8], base: &[u8]) -> Result<bool, String> {
    let s = String::from_utf8_lossy(uri);
    let Some(i) = s.find(':') else {
        return Err(format!("the URI {s} has no scheme"));
    };
    let rest = &s[i + 1..];
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(format!("the URI {s} has no host"));
    };
    let host = rest.split([':', '/']).next().unwrap_or("").as_bytes();
    if host.is_empty() {
        return Err(format!("the URI {s} has an empty host"));
    }
    if base.first() == Some(&b'.') {
        return Ok(host.len() > base.len() && ia5_eq_nocase(base, &host[host.len() - base.len()..]));
    }
    Ok(ia5_eq_nocase(base, host))
}

/// nc_ip: address and mask, no IPv4/IPv6 mixing.
fn nc_ip(ip: &[u8], base: &[u8]) -> Result<bool, String> {
    if !(ip.len() == 4 || ip.len() == 16) || !(base.len() == 8 || base.len() == 32) {
        return Err("an IP address or IP constraint of an invalid length".into());
    }
    if ip.len() * 2 != base.len() {
        return Ok(false);
    }
    let (addr, mask) = base.split_at(ip.len());
    Ok((0..ip.len()).all(|i| ip[i] & mask[i] == addr[i] & mask[i]))
}

/// One name against one base of the same type.
fn nc_match_single(name: &Gn, base: &Gn) -> Result<bool, String> {
    match (name, base) {
        (Gn::Dns(n), Gn::Dns(b)) => Ok(nc_dns(n, b)),
        (Gn::Email(n), Gn::Email(b)) => nc_email(n, b),
        (Gn::Uri(n), Gn::Uri(b)) => nc_uri(n, b),
        (Gn::Ip(n), Gn::Ip(b)) => nc_ip(n, b),
        (Gn::Dir(n), Gn::Dir(b)) => Ok(n.starts_with(b)),
        _ => Err(format!(
            "a {} name constraint, which OpenSSL does not support",
            base.kind()
        )),
    }
}

/// nc_match: with permitted subtrees of the name's type one must match; no excluded one may.
pub fn nc_match(name: &Gn, nc: &NameConstraints) -> Result<(), String> {
    let same = |b: &Gn| {
        std::mem::discriminant(b) == std::mem::discriminant(name)
            && !matches!((b, name), (Gn::Other(x), Gn::Other(y)) if x != y)
    };
    let mut any = false;
    let mut matched = false;
    for b in nc.permitted.iter().filter(|b| same(b)) {
        any = true;
        if !matched && nc_match_single(name, b)? {
            matched = true;
        }
    }
    if any && !matched {
        return Err(format!(
            "{} is outside the permitted name constraints",
            name.describe()
        ));
    }
    for b in nc.excluded.iter().filter(|b| same(b)) {
        if nc_match_single(name, b)? {
            return Err(format!(
                "{} is within the excluded name constraint {}",
                name.describe(),
                b.describe()
            ));
        }
    }
    Ok(())
}

/// NAME_CONSTRAINTS_check: the subject (directoryName), its emailAddress attributes and
/// every SAN.
pub fn check_name_constraints(cert: &Facts, nc: &NameConstraints) -> Result<(), String> {
    if cert.subject_nonempty {
        nc_match(&Gn::Dir(cert.subject.clone()), nc)
            .map_err(|e| e.replace("a directoryName", "the subject"))?;
        for (e, ia5) in &cert.subject_emails {
            if !ia5 {
                return Err("an emailAddress in the subject that is not an IA5String".into());
            }
            nc_match(&Gn::Email(e.clone()), nc)?;
        }
    }
    for g in &cert.san {
        nc_match(g, nc)?;
    }
    Ok(())
}

/// cn2dnsid: a CN that looks like a DNS name of two or more labels, else None.
fn cn_as_dns(cn: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut v = cn;
    while let [rest @ .., 0] = v {
        v = rest;
    }
    if v.contains(&0) {
        return Err("a CN with an embedded NUL".into());
    }
    let n = v.len();
    let mut dns = false;
    for i in 0..n {
        let c = v[i];
        if c.is_ascii_alphanumeric() || c == b'_' {
            continue;
        }
        if i > 0 && i + 1 < n {
            if c == b'-' {
                continue;
            }
            if c == b'.' && v[i + 1] != b'.' && v[i - 1] != b'-' && v[i + 1] != b'-' {
                dns = true;
                continue;
            }
        }
        dns = false;
        break;
    }
    Ok(dns.then(|| v.to_vec()))
}

/// NAME_CONSTRAINTS_check_CN for a leaf without DNS SANs: each CN that looks like a host
/// name is checked against the DNS constraints.
pub fn check_cn_constraints(cert: &Facts, nc: &NameConstraints) -> Result<(), String> {
    for cn in &cert.subject_cns {
        if let Some(d) = cn_as_dns(cn)? {
            nc_match(&Gn::Dns(d), nc).map_err(|e| format!("the CN as a host name: {e}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_constraints_follow_openssl() {
        assert!(nc_dns(b"a.example.com", b"example.com"));
        assert!(nc_dns(b"example.com", b"example.com"));
        assert!(!nc_dns(b"badexample.com", b"example.com"));
        assert!(nc_dns(b"a.example.com", b".example.com"));
        assert!(!nc_dns(b"example.com", b".example.com"));
        assert!(nc_dns(b"anything", b""));
    }

    #[test]
    fn email_and_ip_constraints_follow_openssl() {
        assert_eq!(nc_email(b"a@example.com", b"example.com"), Ok(true));
        assert_eq!(nc_email(b"a@x.example.com", b".example.com"), Ok(true));
        assert_eq!(nc_email(b"a@example.com", b"b@example.com"), Ok(false));
        assert!(nc_email(b"nobody", b"example.com").is_err());
        assert_eq!(
            nc_ip(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]),
            Ok(true)
        );
        assert_eq!(
            nc_ip(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]),
            Ok(false)
        );
    }

    #[test]
    fn cn_looks_like_a_host_name_only_with_two_labels() {
        assert_eq!(
            cn_as_dns(b"db.example.com"),
            Ok(Some(b"db.example.com".to_vec()))
        );
        assert_eq!(cn_as_dns(b"localhost"), Ok(None));
        assert_eq!(cn_as_dns(b"alice smith"), Ok(None));
    }
}
