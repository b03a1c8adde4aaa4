//! Subjects and subject alternative names as the user writes them: `--cn`, `--subj` in
//! OpenSSL syntax (`/C=JP/O=Example/CN=db`, `\/` escapes), `--san dns:NAME|ip:ADDR|BARE`.
//!
//! rcgen's `DistinguishedName` is a map keyed by attribute type: it would silently collapse
//! `/DC=org/DC=example` and flatten `CN=a+UID=b`. pgcert encodes names itself (`to_der`) and
//! puts those bytes into what rcgen signed (`pki::der`). String types follow OpenSSL's choice:
//! PrintableString for C and serialNumber, IA5String for emailAddress and DC, UTF8String
//! for everything else.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rcgen::{DistinguishedName, DnType, DnValue};

/// One attribute type pgcert knows by its OpenSSL short name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    /// OpenSSL short name (`CN`, `O`, `emailAddress` ...).
    pub short: &'static str,
    /// Upper bound in characters (RFC 5280 Appendix A, unless noted).
    ub: usize,
    /// Where the bound comes from.
    ub_name: &'static str,
    oid: &'static [u64],
}

const ATTRS: &[Attr] = &[
    Attr {
        short: "C",
        ub: 2,
        ub_name: "ub-country-name-alpha-length",
        oid: &[2, 5, 4, 6],
    },
    Attr {
        short: "ST",
        ub: 128,
        ub_name: "ub-state-name",
        oid: &[2, 5, 4, 8],
    },
    Attr {
        short: "L",
        ub: 128,
        ub_name: "ub-locality-name",
        oid: &[2, 5, 4, 7],
    },
    Attr {
        short: "O",
        ub: 64,
        ub_name: "ub-organization-name",
        oid: &[2, 5, 4, 10],
    },
    Attr {
        short: "OU",
        ub: 64,
        ub_name: "ub-organizational-unit-name",
        oid: &[2, 5, 4, 11],
    },
    Attr {
        short: "CN",
        ub: 64,
        ub_name: "ub-common-name",
        oid: &[2, 5, 4, 3],
    },
    Attr {
        short: "street",
        ub: 128,
        ub_name: "X.520 ub-street-address",
        oid: &[2, 5, 4, 9],
    },
    Attr {
        short: "serialNumber",
        ub: 64,
        ub_name: "ub-serial-number",
        oid: &[2, 5, 4, 5],
    },
    Attr {
        short: "title",
        ub: 64,
        ub_name: "ub-title",
        oid: &[2, 5, 4, 12],
    },
    Attr {
        short: "SN",
        ub: 32768,
        ub_name: "ub-name",
        oid: &[2, 5, 4, 4],
    },
    Attr {
        short: "GN",
        ub: 32768,
        ub_name: "ub-name",
        oid: &[2, 5, 4, 42],
    },
    Attr {
        short: "emailAddress",
        ub: 255,
        ub_name: "ub-emailaddress-length",
        oid: &[1, 2, 840, 113549, 1, 9, 1],
    },
    Attr {
        short: "DC",
        ub: 63,
        ub_name: "a DNS label, RFC 1035",
        oid: &[0, 9, 2342, 19200300, 100, 1, 25],
    },
    Attr {
        short: "UID",
        ub: 256,
        ub_name: "RFC 1274 ub-user-identifier",
        oid: &[0, 9, 2342, 19200300, 100, 1, 1],
    },
];

/// OpenSSL's short name for a dotted attribute OID, if pgcert knows it.
pub fn short_name(dotted_oid: &str) -> Option<&'static str> {
    ATTRS
        .iter()
        .find(|a| {
            a.oid
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".")
                == dotted_oid
        })
        .map(|a| a.short)
}

impl Attr {
    fn lookup(name: &str) -> Option<Attr> {
        let alias = match name {
            "commonName" => "CN",
            "countryName" => "C",
            "organizationName" => "O",
            "organizationalUnitName" => "OU",
            "localityName" => "L",
            "stateOrProvinceName" => "ST",
            "domainComponent" => "DC",
            "userId" => "UID",
            "surname" => "SN",
            "givenName" => "GN",
            other => other,
        };
        ATTRS.iter().copied().find(|a| a.short == alias)
    }

    /// OpenSSL's string type for the attribute: PrintableString for C and serialNumber,
    /// IA5String for emailAddress and DC, UTF8String otherwise.
    fn string_tag(self) -> u8 {
        match self.short {
            "C" | "serialNumber" => 0x13,
            "emailAddress" | "DC" => 0x16,
            _ => 0x0c,
        }
    }

    fn dn_type(self) -> DnType {
        match self.short {
            "C" => DnType::CountryName,
            "ST" => DnType::StateOrProvinceName,
            "L" => DnType::LocalityName,
            "O" => DnType::OrganizationName,
            "OU" => DnType::OrganizationalUnitName,
            "CN" => DnType::CommonName,
            _ => DnType::CustomDnType(self.oid.to_vec()),
        }
    }
}

/// A subject: RDNs in the order given, each with one attribute or, for a multi-valued RDN
/// (`CN=a+UID=b`), several. Attribute types may repeat (`/OU=Engineering/OU=Testing`).
/// A name read from a certificate or CSR keeps its exact DER, which is what gets signed.
#[derive(Debug, Clone)]
pub struct Subject {
    rdns: Vec<Vec<(Attr, String)>>,
    raw: Option<Vec<u8>>,
}

impl PartialEq for Subject {
    fn eq(&self, other: &Subject) -> bool {
        self.to_der() == other.to_der()
    }
}

impl Eq for Subject {}

impl Subject {
    /// `/CN=NAME`.
    pub fn from_cn(cn: &str) -> Result<Subject, String> {
        Subject::from_parts(vec![vec![(
            Attr::lookup("CN").expect("CN is known"),
            cn.to_string(),
        )]])
    }

    fn from_parts(rdns: Vec<Vec<(Attr, String)>>) -> Result<Subject, String> {
        if rdns.is_empty() {
            return Err("the subject is empty".into());
        }
        for (attr, value) in rdns.iter().flatten() {
            if value.is_empty() {
                return Err(format!("{} has an empty value", attr.short));
            }
            if value.chars().any(|c| c.is_control()) {
                return Err(format!("{} contains a control character", attr.short));
            }
            match attr.short {
                "C" if value.len() != 2 || !value.chars().all(|c| c.is_ascii_alphabetic()) => {
                    return Err(format!(
                        "C={value}: a country is two letters (ISO 3166), e.g. C=JP"
                    ));
                }
                _ if value.chars().count() > attr.ub => {
                    return Err(format!(
                        "{} is longer than {} characters ({})",
                        attr.short, attr.ub, attr.ub_name
                    ));
                }
                "emailAddress" | "DC" if !value.is_ascii() => {
                    return Err(format!("{} must be ASCII", attr.short));
                }
                "serialNumber"
                    if !value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)) =>
                {
                    return Err("serialNumber must be a PrintableString".into());
                }
                _ => {}
            }
        }
        Ok(Subject { rdns, raw: None })
    }

    /// A subject from a parsed certificate or CSR name, keeping its exact DER (string types,
    /// order, repeated attributes, multi-valued RDNs), so that a certificate signed for it
    /// carries the same bytes. Refuses attributes pgcert has no name for and non-string values,
    /// and values beyond RFC 5280's bounds.
    pub fn from_x509(name: &x509_parser::x509::X509Name<'_>) -> Result<Subject, String> {
        use x509_parser::der_parser::asn1_rs::Tag;
        let mut rdns = Vec::new();
        for rdn in name.iter() {
            let mut atvs = Vec::new();
            for atv in rdn.iter() {
                let oid = atv.attr_type().to_id_string();
                let short = short_name(&oid)
                    .ok_or_else(|| format!("attribute {oid} in the name is not supported"))?;
                let attr = Attr::lookup(short).expect("known");
                let data = atv.attr_value().data;
                let value = match atv.attr_value().header.tag() {
                    Tag::Utf8String
                    | Tag::PrintableString
                    | Tag::Ia5String
                    | Tag::NumericString
                    | Tag::VisibleString => String::from_utf8(data.to_vec())
                        .map_err(|_| format!("{short} is not valid text"))?,
                    Tag::BmpString => {
                        let units: Vec<u16> = data
                            .chunks(2)
                            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                            .collect();
                        String::from_utf16(&units)
                            .map_err(|_| format!("{short} is not valid UTF-16"))?
                    }
                    Tag::T61String => data.iter().map(|&b| b as char).collect(),
                    other => return Err(format!("{short} has a non-string value ({other:?})")),
                };
                atvs.push((attr, value));
            }
            if atvs.is_empty() {
                return Err("the name has an empty RDN".into());
            }
            rdns.push(atvs);
        }
        let mut s = Subject::from_parts(rdns)?;
        s.raw = Some(name.as_raw().to_vec());
        Ok(s)
    }

    /// The first CN, if any (the one PostgreSQL and libpq read).
    pub fn cn(&self) -> Option<&str> {
        self.rdns
            .iter()
            .flatten()
            .find(|(a, _)| a.short == "CN")
            .map(|(_, v)| v.as_str())
    }

    /// True when rcgen's name map cannot hold this subject: a repeated attribute type or a
    /// multi-valued RDN. Signing then puts [`Subject::to_der`] in place of rcgen's name.
    pub fn needs_exact_encoding(&self) -> bool {
        let flat: Vec<&Attr> = self.rdns.iter().flatten().map(|(a, _)| a).collect();
        self.rdns.iter().any(|r| r.len() > 1)
            || flat.iter().enumerate().any(|(i, a)| flat[..i].contains(a))
    }

    /// The DER Name: the bytes read from a certificate or CSR, else each RDN in order, a
    /// multi-valued RDN's attributes sorted as DER's SET OF requires (as OpenSSL does), with
    /// OpenSSL's string types.
    pub fn to_der(&self) -> Vec<u8> {
        use crate::pki::der::tlv;
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut seq = Vec::new();
        for rdn in &self.rdns {
            let mut atvs: Vec<Vec<u8>> = rdn
                .iter()
                .map(|(attr, value)| {
                    let mut atv = tlv(0x06, &oid_content(attr.oid));
                    atv.extend_from_slice(&tlv(attr.string_tag(), value.as_bytes()));
                    tlv(0x30, &atv)
                })
                .collect();
            atvs.sort();
            seq.extend_from_slice(&tlv(0x31, &atvs.concat()));
        }
        tlv(0x30, &seq)
    }

    /// The rcgen name with OpenSSL's string types. For a subject that
    /// [needs exact encoding](Subject::needs_exact_encoding) this is only a stand-in (rcgen
    /// keeps one value per type), replaced by [`Subject::to_der`] after signing.
    pub fn to_rcgen(&self) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for (attr, value) in self.rdns.iter().flatten() {
            let v = match attr.string_tag() {
                0x13 => DnValue::PrintableString(
                    value.as_str().try_into().expect("validated as printable"),
                ),
                0x16 => DnValue::Ia5String(value.as_str().try_into().expect("validated as ASCII")),
                _ => DnValue::Utf8String(value.clone()),
            };
            dn.push(attr.dn_type(), v);
        }
        dn
    }
}

/// The contents octets of an OBJECT IDENTIFIER.
fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        out.extend(tmp.iter().rev());
    };
    push(arcs[0] * 40 + arcs[1]);
    for &a in &arcs[2..] {
        push(a);
    }
    out
}

impl FromStr for Subject {
    type Err = String;

    /// Parse OpenSSL `-subj` syntax: `/TYPE=value/TYPE=value`, `+` joins the attributes of a
    /// multi-valued RDN (`/CN=a+UID=b`), `\` escapes the next character.
    fn from_str(s: &str) -> Result<Subject, String> {
        let Some(rest) = s.strip_prefix('/') else {
            return Err(format!(
                "'{s}' must start with '/', e.g. /O=Example/CN=db.example.com"
            ));
        };
        // RDNs, each a list of TYPE=value parts
        let mut rdns: Vec<Vec<String>> = vec![vec![String::new()]];
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            let part = rdns
                .last_mut()
                .and_then(|r| r.last_mut())
                .expect("non-empty");
            match c {
                '\\' => match chars.next() {
                    Some(n) => part.push(n),
                    None => return Err("a trailing '\\' escapes nothing".into()),
                },
                '/' => rdns.push(vec![String::new()]),
                '+' => rdns.last_mut().expect("non-empty").push(String::new()),
                c => part.push(c),
            }
        }
        let mut out = Vec::new();
        for rdn in rdns {
            let mut atvs = Vec::new();
            for part in rdn {
                if part.is_empty() {
                    return Err(format!(
                        "'{s}' has an empty component ('//', '/+', '++' or a trailing '/' or '+')"
                    ));
                }
                let Some((ty, value)) = part.split_once('=') else {
                    return Err(format!("'{part}' is not TYPE=value"));
                };
                let attr = Attr::lookup(ty.trim()).ok_or_else(|| {
                    format!(
                        "unknown attribute '{ty}' (known: {})",
                        ATTRS.iter().map(|a| a.short).collect::<Vec<_>>().join(", ")
                    )
                })?;
                atvs.push((attr, value.to_string()));
            }
            out.push(atvs);
        }
        Subject::from_parts(out)
    }
}

impl fmt::Display for Subject {
    /// The OpenSSL one-line form, as `index.txt` holds it: `/` between RDNs, `+` within one,
    /// both escaped in values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for rdn in &self.rdns {
            for (i, (attr, value)) in rdn.iter().enumerate() {
                let sep = if i == 0 { '/' } else { '+' };
                let value = value.replace('/', "\\/").replace('+', "\\+");
                write!(f, "{sep}{}={value}", attr.short)?;
            }
        }
        Ok(())
    }
}

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum San {
    /// dNSName.
    Dns(String),
    /// iPAddress.
    Ip(IpAddr),
}

impl FromStr for San {
    type Err = String;

    /// `dns:NAME`, `ip:ADDR`, or a bare value: an IP if it parses as one, else a DNS name.
    fn from_str(s: &str) -> Result<San, String> {
        let (kind, value) = match s.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("dns") => ("dns", v),
            Some((k, v)) if k.eq_ignore_ascii_case("ip") => ("ip", v),
            _ => ("", s),
        };
        match kind {
            "ip" => value
                .parse::<IpAddr>()
                .map(San::Ip)
                .map_err(|_| format!("'{value}' is not an IP address")),
            "dns" => San::dns(value),
            _ => match value.parse::<IpAddr>() {
                Ok(ip) => Ok(San::Ip(ip)),
                Err(_) => San::dns(value),
            },
        }
    }
}

impl San {
    fn dns(name: &str) -> Result<San, String> {
        let body = name.strip_prefix("*.").unwrap_or(name);
        let ok = !body.is_empty()
            && name.len() <= 253
            && body.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !ok {
            return Err(format!(
                "'{name}' is not a valid DNS name (letters, digits, '-', dot-separated labels; a wildcard only as '*.')"
            ));
        }
        Ok(San::Dns(name.to_ascii_lowercase()))
    }

    /// The SAN a server certificate gets for its CN: an IP SAN when the CN is an address,
    /// else a DNS SAN when the CN is a valid host name, else none.
    pub fn for_cn(cn: &str) -> Option<San> {
        cn.parse::<San>().ok()
    }

    /// rcgen's form.
    pub fn to_rcgen(&self) -> Result<rcgen::SanType, String> {
        Ok(match self {
            San::Dns(n) => rcgen::SanType::DnsName(
                n.clone()
                    .try_into()
                    .map_err(|e| format!("bad DNS name {n}: {e}"))?,
            ),
            San::Ip(ip) => rcgen::SanType::IpAddress(*ip),
        })
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(n) => write!(f, "DNS:{n}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subj_parses_openssl_syntax_with_escapes() {
        let s: Subject = "/C=JP/O=Acme\\/Sub, Inc./CN=db.example.com"
            .parse()
            .unwrap();
        assert_eq!(s.cn(), Some("db.example.com"));
        assert_eq!(s.to_string(), "/C=JP/O=Acme\\/Sub, Inc./CN=db.example.com");
    }

    #[test]
    fn subj_refuses_what_would_be_silently_changed() {
        for bad in [
            "CN=x",
            "/CN=a+",
            "/CN=a++UID=b",
            "/C=JPN/CN=x",
            "/CN=",
            "/CN=x/",
            "//CN=x",
            "/XX=1",
            "/CN",
        ] {
            assert!(bad.parse::<Subject>().is_err(), "{bad} should be refused");
        }
        let s: Subject = "/O=a\\+b/CN=x".parse().unwrap();
        assert_eq!(s.to_string(), "/O=a\\+b/CN=x");
    }

    #[test]
    fn repeated_attributes_and_multi_valued_rdns_encode_in_order_like_openssl() {
        let s: Subject = "/O=PGDG/OU=Engineering/OU=Testing/CN=a+UID=b"
            .parse()
            .unwrap();
        assert!(s.needs_exact_encoding());
        assert_eq!(
            s.to_string(),
            "/O=PGDG/OU=Engineering/OU=Testing/CN=a+UID=b"
        );
        assert_eq!(s.cn(), Some("a"));
        let der = s.to_der();
        use x509_parser::prelude::FromDer;
        let (_, name) = x509_parser::x509::X509Name::from_der(&der).unwrap();
        assert_eq!(crate::pki::inspect::oneline(&name), s.to_string());
        // the multi-valued RDN's SET is in DER order: CN (2.5.4.3) before UID (0.9.2342...)
        // by encoded length, as OpenSSL writes it
        let rdns: Vec<_> = name.iter().collect();
        assert_eq!(rdns.len(), 4);
        assert_eq!(rdns[3].iter().count(), 2);
        let back = Subject::from_x509(&name).unwrap();
        assert_eq!(back.to_der(), der);
        assert!(
            !"/O=x/CN=y"
                .parse::<Subject>()
                .unwrap()
                .needs_exact_encoding()
        );
    }

    #[test]
    fn subj_uses_openssl_string_types() {
        let s: Subject = "/C=JP/emailAddress=a@b.c/CN=x".parse().unwrap();
        let dn = s.to_rcgen();
        assert!(matches!(
            dn.get(&DnType::CountryName),
            Some(DnValue::PrintableString(_))
        ));
        assert!(matches!(
            dn.get(&DnType::CommonName),
            Some(DnValue::Utf8String(_))
        ));
    }

    #[test]
    fn san_forms() {
        let cases = [
            ("dns:db.example.com", San::Dns("db.example.com".into())),
            ("DNS:DB.Example.com", San::Dns("db.example.com".into())),
            ("ip:127.0.0.1", San::Ip("127.0.0.1".parse().unwrap())),
            ("::1", San::Ip("::1".parse().unwrap())),
            ("10.0.0.1", San::Ip("10.0.0.1".parse().unwrap())),
            ("localhost", San::Dns("localhost".into())),
            ("*.db.example.com", San::Dns("*.db.example.com".into())),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<San>().unwrap(), want, "{s}");
        }
        for bad in [
            "ip:localhost",
            "dns:",
            "a..b",
            "bad name",
            "x.*.y",
            "dns:a/b",
        ] {
            assert!(bad.parse::<San>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cn_becomes_a_san_of_the_right_type() {
        assert_eq!(
            San::for_cn("127.0.0.1"),
            Some(San::Ip("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(San::for_cn("localhost"), Some(San::Dns("localhost".into())));
        assert_eq!(San::for_cn("My Database"), None);
    }
}
