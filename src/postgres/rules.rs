//! The rules PostgreSQL and libpq apply, written down once: libpq's `sslmode=verify-full`
//! host-name match (fe-secure-common.c, fe-secure-openssl.c), the `cert` authentication CN
//! rule, and the private-key file permission rules of the server (be-secure-common.c) and of
//! libpq (fe-secure-openssl.c).
//!
//! Host names, as libpq does it (PostgreSQL 15):
//! - the host is an IP address when it parses as one (IPv4 as `inet_aton` reads it, so
//!   `192.000.002.001` is 192.0.2.1), else a DNS name;
//! - every SAN is examined in order: dNSName entries are compared as names (also with an IP
//!   host: a dNSName that spells the address matches), iPAddress entries as addresses;
//! - the CN (the first one) is used only when no SAN *of the host's type* exists;
//! - names compare case-insensitively; a wildcard is only a leftmost `*.` and stands for
//!   exactly one label (`*.example.com` matches `a.example.com`, not `example.com` or
//!   `a.b.example.com`).

use std::net::IpAddr;

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// Parse an IPv4 address the way `inet_aton` does for four parts: decimal, octal (leading 0)
/// or hex (0x) numbers.
fn inet_aton4(s: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut out = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        let v = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            u32::from_str_radix(h, 16).ok()?
        } else if p.len() > 1 && p.starts_with('0') {
            u32::from_str_radix(&p[1..], 8).ok()?
        } else {
            p.parse::<u32>().ok()?
        };
        out[i] = u8::try_from(v).ok()?;
    }
    Some(out)
}

/// The host as an address, if libpq treats it as one.
pub fn host_ip(host: &str) -> Option<IpAddr> {
    if let Some(v4) = inet_aton4(host) {
        return Some(IpAddr::from(v4));
    }
    host.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

/// libpq's wildcard_certificate_match plus the plain case-insensitive compare.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    // bytes, as libpq compares them (a non-ASCII host must not split a character here)
    let (p, h) = (pattern.as_bytes(), host.as_bytes());
    let (lp, lh) = (p.len(), h.len());
    if lp < 3 || !pattern.starts_with("*.") || lp > lh {
        return false;
    }
    // the host's tail must equal the pattern after '*' ...
    if !p[1..].eq_ignore_ascii_case(&h[lh - lp + 1..]) {
        return false;
    }
    // ... and the part the '*' covers may not contain a dot
    !h[..lh - lp + 1].contains(&b'.')
}

/// The outcome of libpq's host-name check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Matched this certificate name.
    Matched(String),
    /// No match, with libpq's own message.
    Mismatch(String),
}

/// Check `host` against a certificate as `sslmode=verify-full` does.
pub fn check_host(cert_der: &[u8], host: &str) -> Result<HostMatch, String> {
    if host.is_empty() {
        return Ok(HostMatch::Mismatch(
            "host name must be specified for a verified SSL connection".into(),
        ));
    }
    let (_, cert) =
        x509_parser::certificate::X509Certificate::from_der(cert_der).map_err(|e| e.to_string())?;
    let ip = host_ip(host);
    let mut examined: Vec<String> = Vec::new();
    let mut san_of_host_type = false;
    for ext in cert.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for gn in &san.general_names {
                match gn {
                    GeneralName::DNSName(n) => {
                        if n.contains('\0') {
                            return Err("SSL certificate's name contains embedded null".into());
                        }
                        if ip.is_none() {
                            san_of_host_type = true;
                        }
                        examined.push(n.to_string());
                        if name_matches(n, host) {
                            return Ok(HostMatch::Matched(format!("DNS:{n}")));
                        }
                    }
                    GeneralName::IPAddress(b) => {
                        if ip.is_some() {
                            san_of_host_type = true;
                        }
                        let addr = match b.len() {
                            4 => IpAddr::from(<[u8; 4]>::try_from(*b).expect("4")),
                            16 => IpAddr::from(<[u8; 16]>::try_from(*b).expect("16")),
                            n => {
                                return Err(format!(
                                    "certificate contains IP address with invalid length {n}"
                                ));
                            }
                        };
                        examined.push(addr.to_string());
                        if ip == Some(addr) {
                            return Ok(HostMatch::Matched(format!("IP:{addr}")));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if !san_of_host_type
        && let Some(cn) = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
    {
        examined.push(cn.to_string());
        if name_matches(cn, host) {
            return Ok(HostMatch::Matched(format!("CN:{cn}")));
        }
    }
    Ok(HostMatch::Mismatch(match examined.as_slice() {
        [] => "could not get server's host name from server certificate".into(),
        [one] => format!("server certificate for \"{one}\" does not match host name \"{host}\""),
        [first, rest @ ..] => format!(
            "server certificate for \"{first}\" (and {} other name{}) does not match host name \"{host}\"",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }))
}

/// `cert` authentication and `clientcert=verify-full`: the certificate's CN must equal the
/// database user (without a user name map).
pub fn check_user(cn: Option<&str>, user: &str) -> Result<(), String> {
    match cn {
        Some(cn) if cn == user => Ok(()),
        Some(cn) => Err(format!(
            "the certificate's CN \"{cn}\" is not the database user \"{user}\" (cert authentication would fail; map it with pg_ident.conf, or issue one with --cn {user})"
        )),
        None => {
            Err("the certificate has no CN, so cert authentication cannot map it to a user".into())
        }
    }
}

/// Who may own a private key file and with which mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    /// The PostgreSQL server: owned by the database user (0600 or less) or by root (0640 or less).
    Server,
    /// libpq: owned by the current user (0600 or less) or by root (0640 or less).
    Client,
}

/// The server's and libpq's private key file rule. `uid`/`mode` are the file's, `user_uid`
/// the database user's (server) or the connecting user's (client).
pub fn check_key_file(uid: u32, mode: u32, user_uid: u32, who: KeyOwner) -> Result<(), String> {
    let whom = match who {
        KeyOwner::Server => "the database user",
        KeyOwner::Client => "the current user",
    };
    if uid != user_uid && uid != 0 {
        return Err(format!(
            "must be owned by {whom} or root (it is owned by uid {uid})"
        ));
    }
    let bad = if uid == 0 && user_uid != 0 {
        mode & 0o037 != 0 // root-owned: u=rw,g=r at most
    } else {
        mode & 0o077 != 0
    };
    if bad {
        return Err(format!(
            "has group or world access (mode {:04o}); it must be u=rw (0600) or less if owned by {whom}, or u=rw,g=r (0640) or less if owned by root",
            mode & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_exactly_one_label() {
        assert!(name_matches("*.example.com", "db.example.com"));
        assert!(name_matches("*.Example.COM", "DB.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("f*.example.com", "foo.example.com"));
        assert!(name_matches("DB.example.com", "db.EXAMPLE.com"));
        // non-ASCII hosts are compared, not split mid-character
        assert!(!name_matches("*.y", "éy"));
        assert!(name_matches("*.example.com", "é.example.com"));
    }

    #[test]
    fn ipv4_is_read_like_inet_aton() {
        assert_eq!(
            host_ip("192.000.002.001"),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(host_ip("2001:db8::1"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(host_ip("db.example.com"), None);
        assert_eq!(host_ip("300.1.1.1"), None);
    }

    #[test]
    fn key_file_rules_follow_postgres() {
        let (db, root) = (101, 0);
        assert!(check_key_file(db, 0o600, db, KeyOwner::Server).is_ok());
        assert!(check_key_file(db, 0o400, db, KeyOwner::Server).is_ok());
        assert!(check_key_file(db, 0o640, db, KeyOwner::Server).is_err());
        assert!(
            check_key_file(db, 0o644, db, KeyOwner::Server)
                .unwrap_err()
                .contains("group or world")
        );
        assert!(check_key_file(root, 0o640, db, KeyOwner::Server).is_ok());
        assert!(check_key_file(root, 0o660, db, KeyOwner::Server).is_err());
        assert!(
            check_key_file(500, 0o600, db, KeyOwner::Server)
                .unwrap_err()
                .contains("owned by")
        );
    }

    #[test]
    fn cert_auth_needs_the_cn_to_be_the_user() {
        assert!(check_user(Some("alice"), "alice").is_ok());
        assert!(check_user(Some("alice"), "bob").is_err());
        assert!(check_user(None, "bob").is_err());
    }
}
