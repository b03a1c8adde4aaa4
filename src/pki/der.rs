//! Just enough DER to put names into signed structures byte for byte.
//!
//! rcgen encodes names through a map keyed by attribute type, so it cannot write a subject with
//! a repeated attribute (`/O=PGDG/OU=Engineering/OU=Testing/CN=x`) or a multi-valued RDN, and it
//! re-encodes an issuer parsed from the CA's certificate. pgcert lets rcgen build and sign the
//! structure, then, when a name differs from the bytes it must be, replaces that element of the
//! to-be-signed part and signs again with the same key and algorithm. Certificates, CRLs and CSRs
//! share the outer shape `SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }`.

use crate::pki::key::PrivateKey;

/// One TLV: its tag byte, its contents, and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The identifier octet (pgcert never meets multi-byte tags in these structures).
    pub tag: u8,
    /// The contents octets.
    pub content: &'a [u8],
    /// Tag, length and contents.
    pub whole: &'a [u8],
}

/// Read the TLV at the start of `input`; returns it and what follows.
pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), String> {
    let bad = || "malformed DER".to_string();
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    if tag & 0x1f == 0x1f {
        return Err("malformed DER: multi-byte tag".into());
    }
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(bad());
    }
    let head = input.len() - rest.len();
    Ok((
        Tlv {
            tag,
            content: &rest[..len],
            whole: &input[..head + len],
        },
        &rest[len..],
    ))
}

/// The elements of a constructed value's contents.
pub fn elements(content: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (t, r) = read(rest)?;
        out.push(t);
        rest = r;
    }
    Ok(out)
}

/// Encode a TLV.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The to-be-signed part's elements of a signed structure.
pub fn tbs_elements(signed: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    let (outer, _) = read(signed)?;
    let parts = elements(outer.content)?;
    let tbs = parts
        .first()
        .ok_or("malformed DER: empty signed structure")?;
    elements(tbs.content)
}

/// Where the parts pgcert may replace sit among a certificate's TBS elements.
pub struct CertPositions {
    /// The signature AlgorithmIdentifier inside the TBS.
    pub signature: usize,
    /// The issuer Name.
    pub issuer: usize,
    /// The subject Name.
    pub subject: usize,
    /// The SubjectPublicKeyInfo.
    pub spki: usize,
}

/// The positions in a certificate's TBS (after the optional `[0] version`).
pub fn cert_positions(signed: &[u8]) -> Result<CertPositions, String> {
    let tbs = tbs_elements(signed)?;
    let off = usize::from(tbs.first().is_some_and(|t| t.tag == 0xa0));
    Ok(CertPositions {
        signature: off + 1,
        issuer: off + 2,
        subject: off + 4,
        spki: off + 5,
    })
}

/// Where a CRL's issuer sits among its TBS elements (after the optional version INTEGER).
pub fn crl_issuer_position(signed: &[u8]) -> Result<usize, String> {
    let tbs = tbs_elements(signed)?;
    Ok(usize::from(tbs.first().is_some_and(|t| t.tag == 0x02)) + 1)
}

/// Replace elements of the TBS part of `signed` (by position) and sign it again with `key`:
/// with its own signature algorithm when it has one rcgen cannot write (RSA-PSS), else the one
/// the structure names.
pub fn resign(
    signed: &[u8],
    replace: &[(usize, &[u8])],
    key: &PrivateKey,
) -> Result<Vec<u8>, String> {
    let (outer, _) = read(signed)?;
    let parts = elements(outer.content)?;
    let [tbs, alg, _sig] = parts[..] else {
        return Err("malformed DER: not a signed structure".into());
    };
    let mut content = Vec::with_capacity(tbs.content.len() + 64);
    for (i, e) in elements(tbs.content)?.iter().enumerate() {
        match replace.iter().find(|(at, _)| *at == i) {
            Some((_, new)) => content.extend_from_slice(new),
            None => content.extend_from_slice(e.whole),
        }
    }
    let tbs = tlv(0x30, &content);
    let sig = key.sign(&tbs).map_err(|e| format!("signing failed: {e}"))?;
    let mut bits = Vec::with_capacity(sig.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(&sig);
    let mut body = tbs;
    body.extend_from_slice(key.signature_algorithm().unwrap_or(alg.whole));
    body.extend_from_slice(&tlv(0x03, &bits));
    Ok(tlv(0x30, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_short_and_long_form() {
        for n in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; n];
            let enc = tlv(0x04, &content);
            let (t, rest) = read(&enc).unwrap();
            assert_eq!((t.tag, t.content.len(), rest.len()), (0x04, n, 0));
            assert_eq!(t.whole, &enc[..]);
        }
        assert!(read(&[0x04, 0x05, 1, 2]).is_err(), "truncated");
        assert!(read(&[0x1f, 0x01, 0x00]).is_err(), "multi-byte tag");
    }
}
