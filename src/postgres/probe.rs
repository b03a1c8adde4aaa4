//! Probing a live PostgreSQL server like `openssl s_client -starttls postgres -showcerts`:
//! the SSLRequest of the PostgreSQL protocol (length 8, code 80877103), then a TLS handshake
//! with rustls that records the chain exactly as the server sends it. The handshake accepts any
//! chain (judging it is pgcert's `verify`, afterwards, with libpq's rules) but still checks the
//! server's handshake signatures, so the server proves it holds the key.
//!
//! Limits: rustls speaks TLS 1.2 and 1.3 with AEAD suites only; a server restricted to older
//! protocols cannot be probed (and is reported as a handshake failure). A server with an
//! RSA-PSS key is probed over TLS 1.3 (its `rsa_pss_pss_*` signatures are checked here, see
//! `RSA_PSS_PSS`); an RSA-PSS *client* key cannot be presented. Timeouts are bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

use crate::pki::key::PrivateKey;

/// PostgreSQL's SSLRequest packet.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// What the server did.
#[derive(Debug, Clone)]
pub enum ProbeOutcome {
    /// The handshake completed.
    Tls(TlsInfo),
    /// The server answered 'N': SSL is off.
    SslOff,
}

/// What the handshake showed.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// "TLSv1.3", "TLSv1.2".
    pub version: String,
    /// The cipher suite.
    pub cipher: String,
    /// The key exchange group, if known.
    pub group: Option<String>,
    /// The chain as sent, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    /// The address connected to.
    pub addr: SocketAddr,
    /// With a client certificate: the server's answer to the startup message after the
    /// handshake (Ok: what it asked for next; Err: its refusal, a TLS alert or a FATAL error).
    pub startup: Option<Result<String, String>>,
}

/// Send the StartupMessage for `user`/`db` over the TLS stream and read the first answer.
/// Under TLS 1.3 a server that refuses the client certificate says so only now, with an alert.
fn startup<S: Read + Write>(tls: &mut S, user: &str, db: &str) -> Result<String, String> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
    for (k, v) in [("user", user), ("database", db)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend(body);
    tls.write_all(&msg)
        .and_then(|_| tls.flush())
        .map_err(|e| format!("the server refused the connection after the handshake: {e}"))?;
    let mut head = [0u8; 5];
    tls.read_exact(&mut head)
        .map_err(|e| format!("the server refused the connection after the handshake: {e}"))?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut payload = vec![0u8; len.saturating_sub(4).min(1 << 16)];
    tls.read_exact(&mut payload)
        .map_err(|e| format!("the server's answer was cut short: {e}"))?;
    match head[0] {
        b'R' => {
            let code = payload
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(u32::MAX);
            Ok(match code {
                0 => "authentication ok (trust or cert authentication accepted the certificate)"
                    .into(),
                3 => "the server asks for a password (cleartext)".into(),
                5 => "the server asks for a password (md5)".into(),
                10 => "the server asks for SCRAM authentication".into(),
                c => format!("the server asks for authentication method {c}"),
            })
        }
        b'E' => {
            let mut fields = std::collections::BTreeMap::new();
            for f in payload.split(|&b| b == 0).filter(|f| !f.is_empty()) {
                fields.insert(f[0], String::from_utf8_lossy(&f[1..]).into_owned());
            }
            Err(format!(
                "the server refused: {} {}",
                fields.get(&b'S').cloned().unwrap_or_default(),
                fields.get(&b'M').cloned().unwrap_or_default()
            ))
        }
        t => Err(format!(
            "unexpected answer {:?} to the startup message",
            t as char
        )),
    }
}

#[derive(Debug)]
struct RecordAll(Arc<CryptoProvider>);

impl ServerCertVerifier for RecordAll {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if let Some((_, bits)) = RSA_PSS_PSS.iter().find(|(s, _)| *s == dss.scheme) {
            let spki = x509_parser::parse_x509_certificate(cert.as_ref())
                .map(|(_, c)| c.tbs_certificate.subject_pki.raw.to_vec())
                .map_err(|_| {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
                })?;
            return crate::pki::signature::verify_tls13_rsa_pss_pss(
                &spki,
                *bits,
                dss.signature(),
                message,
            )
            .map(|_| HandshakeSignatureValid::assertion())
            .map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
            });
        }
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        let mut schemes = self.0.signature_verification_algorithms.supported_schemes();
        schemes.extend(RSA_PSS_PSS.iter().map(|(s, _)| *s));
        schemes
    }
}

/// TLS 1.3's signature schemes for RSASSA-PSS keys (id-RSASSA-PSS, what `--key-type
/// rsa-pss2048` makes), with their SHA-2 size: ring has none of them, so a server holding such a
/// key (OpenSSL signs only with these for it) would refuse a handshake that does not offer them.
/// pgcert offers them and checks the signature itself.
const RSA_PSS_PSS: [(rustls::SignatureScheme, u16); 3] = [
    (rustls::SignatureScheme::Unknown(0x0809), 256),
    (rustls::SignatureScheme::Unknown(0x080a), 384),
    (rustls::SignatureScheme::Unknown(0x080b), 512),
];

/// Split `host[:port]` (IPv6 in brackets), default port 5432.
pub fn parse_target(target: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = target.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed '[' in the address")?;
        (h.to_string(), after.strip_prefix(':'))
    } else if target.matches(':').count() == 1 {
        let (h, p) = target.split_once(':').expect("one colon");
        (h.to_string(), Some(p))
    } else {
        (target.to_string(), None)
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("'{p}' is not a port"))?,
        None => 5432,
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    Ok((host, port))
}

/// Connect, ask for SSL and shake hands. `client` is an optional certificate chain and key.
pub fn probe(
    host: &str,
    port: u16,
    client: Option<(Vec<Vec<u8>>, &PrivateKey)>,
    login: Option<(&str, &str)>,
    timeout: Duration,
) -> Result<ProbeOutcome, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last_err = format!("{host} has no address");
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                stream = Some((s, *a));
                break;
            }
            Err(e) => last_err = format!("cannot connect to {a}: {e}"),
        }
    }
    let (mut tcp, addr) = stream.ok_or(last_err)?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp.write_all(&SSL_REQUEST)
        .map_err(|e| format!("cannot send the SSLRequest: {e}"))?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("{addr} did not answer the SSLRequest within {timeout:?}")
        }
        _ => format!(
            "{addr} closed the connection after the SSLRequest ({e}): not a PostgreSQL server?"
        ),
    })?;
    match answer[0] {
        b'S' => {}
        b'N' => return Ok(ProbeOutcome::SslOff),
        b'E' => {
            return Err(format!(
                "{addr} answered the SSLRequest with an error message"
            ));
        }
        other => {
            return Err(format!(
                "{addr} answered the SSLRequest with {other:#04x}: not a PostgreSQL server"
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordAll(provider)));
    let config = match client {
        Some((chain, key)) => builder
            .with_client_auth_cert(
                chain.into_iter().map(CertificateDer::from).collect(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec())),
            )
            .map_err(|e| format!("cannot use the client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    let name = match crate::postgres::rules::host_ip(host) {
        Some(ip) => ServerName::IpAddress(ip.into()),
        None => ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?,
    };
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| format!("the TLS handshake with {addr} failed: {e}"))?;
    }
    let chain: Vec<Vec<u8>> = conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
        .unwrap_or_default();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "unknown".into(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_else(|| "unknown".into());
    let group = conn
        .negotiated_key_exchange_group()
        .map(|g| format!("{:?}", g.name()));
    let startup = login.map(|(user, db)| {
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        startup(&mut tls, user, db)
    });
    conn.send_close_notify();
    let _ = conn.complete_io(&mut tcp);
    Ok(ProbeOutcome::Tls(TlsInfo {
        version,
        cipher,
        group,
        chain,
        addr,
        startup,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_default_port_and_ipv6() {
        assert_eq!(
            parse_target("db.example.com"),
            Ok(("db.example.com".into(), 5432))
        );
        assert_eq!(
            parse_target("localhost:6543"),
            Ok(("localhost".into(), 6543))
        );
        assert_eq!(parse_target("[::1]:5433"), Ok(("::1".into(), 5433)));
        assert_eq!(parse_target("::1"), Ok(("::1".into(), 5432)));
        assert!(parse_target("h:x").is_err());
    }
}
