//! Subjects and subject alternative names as the user writes them: `--cn`, `--subj` in
//! OpenSSL syntax (`/C=JP/O=Example/CN=db`, `\/` escapes), `--san dns:NAME|ip:ADDR|BARE`.
//!
//! rcgen's `DistinguishedName` is a map keyed by attribute type: it silently collapses
//! `/DC=org/DC=example` and flattens `CN=a+UID=b`. We refuse both here, with a clear error,
//! rather than sign a name the user did not write. String types follow OpenSSL's choice:
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

/// A subject: an ordered list of single-valued RDNs with distinct attribute types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    rdns: Vec<(Attr, String)>,
}

impl Subject {
    /// `/CN=NAME`.
    pub fn from_cn(cn: &str) -> Result<Subject, String> {
        Subject::from_parts(vec![(
            Attr::lookup("CN").expect("CN is known"),
            cn.to_string(),
        )])
    }

    fn from_parts(rdns: Vec<(Attr, String)>) -> Result<Subject, String> {
        if rdns.is_empty() {
            return Err("the subject is empty".into());
        }
        for (i, (attr, value)) in rdns.iter().enumerate() {
            if value.is_empty() {
                return Err(format!("{} has an empty value", attr.short));
            }
            if value.chars().any(|c| c.is_control()) {
                return Err(format!("{} contains a control character", attr.short));
            }
            if rdns[..i].iter().any(|(a, _)| a == attr) {
                return Err(format!(
                    "{} appears twice; pgcert does not encode repeated attributes (they would be silently merged)",
                    attr.short
                ));
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
        Ok(Subject { rdns })
    }

    /// A subject from a parsed certificate or CSR name. Refuses what pgcert cannot re-encode
    /// faithfully: multi-valued RDNs, repeated attribute types, attributes it has no name
    /// for and non-string values. Values are re-encoded with OpenSSL's string types.
    pub fn from_x509(name: &x509_parser::x509::X509Name<'_>) -> Result<Subject, String> {
        use x509_parser::der_parser::asn1_rs::Tag;
        let mut rdns = Vec::new();
        for rdn in name.iter() {
            let atvs: Vec<_> = rdn.iter().collect();
            if atvs.len() != 1 {
                return Err(
                    "the name has a multi-valued RDN ('+'), which pgcert cannot encode".into(),
                );
            }
            let atv = atvs[0];
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
            rdns.push((attr, value));
        }
        Subject::from_parts(rdns)
    }

    /// The first CN, if any.
    pub fn cn(&self) -> Option<&str> {
        self.rdns
            .iter()
            .find(|(a, _)| a.short == "CN")
            .map(|(_, v)| v.as_str())
    }

    /// The rcgen name with OpenSSL's string types.
    pub fn to_rcgen(&self) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for (attr, value) in &self.rdns {
            let v = match attr.short {
                "C" | "serialNumber" => DnValue::PrintableString(
                    value.as_str().try_into().expect("validated as printable"),
                ),
                "emailAddress" | "DC" => {
                    DnValue::Ia5String(value.as_str().try_into().expect("validated as ASCII"))
                }
                _ => DnValue::Utf8String(value.clone()),
            };
            dn.push(attr.dn_type(), v);
        }
        dn
    }
}

impl FromStr for Subject {
    type Err = String;

    /// Parse OpenSSL `-subj` syntax: `/TYPE=value/TYPE=value`, `\` escapes the next character.
    fn from_str(s: &str) -> Result<Subject, String> {
        let Some(rest) = s.strip_prefix('/') else {
            return Err(format!(
                "'{s}' must start with '/', e.g. /O=Example/CN=db.example.com"
            ));
        };
        let mut parts: Vec<String> = vec![String::new()];
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n) => parts.last_mut().expect("non-empty").push(n),
                    None => return Err("a trailing '\\' escapes nothing".into()),
                },
                '/' => parts.push(String::new()),
                '+' => {
                    return Err(
                        "multi-valued RDNs ('+') are not supported; escape a literal plus as '\\+'"
                            .into(),
                    );
                }
                c => parts.last_mut().expect("non-empty").push(c),
            }
        }
        let mut rdns = Vec::new();
        for part in parts {
            if part.is_empty() {
                return Err(format!(
                    "'{s}' has an empty component ('//' or a trailing '/')"
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
            rdns.push((attr, value.to_string()));
        }
        Subject::from_parts(rdns)
    }
}

impl fmt::Display for Subject {
    /// The OpenSSL one-line form, as `index.txt` holds it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (attr, value) in &self.rdns {
            write!(f, "/{}={}", attr.short, value.replace('/', "\\/"))?;
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
            "/DC=org/DC=example/CN=x",
            "/OU=a/OU=b",
            "/O=Acme/CN=a+UID=b",
            "/C=JPN/CN=x",
            "/CN=",
            "/CN=x/",
            "//CN=x",
            "/XX=1",
            "/CN",
        ] {
            assert!(bad.parse::<Subject>().is_err(), "{bad} should be refused");
        }
        assert!("/O=a\\+b/CN=x".parse::<Subject>().is_ok());
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
