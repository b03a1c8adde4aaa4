//! OpenSSL's subject-name hash (`openssl x509 -hash`, `openssl crl -hash`), which names the
//! files of a hashed directory: `<hash>.0` for certificates, `<hash>.r0` for CRLs, as
//! `openssl rehash` makes them and PostgreSQL's `ssl_crl_dir` / libpq's `sslcrldir` look them up.
//!
//! The hash is X509_NAME_hash_ex: SHA-1 over the *canonical* encoding of the name, first four
//! bytes read little-endian. The canonical encoding (x509_name_canon in OpenSSL):
//! - every string value (UTF8String, PrintableString, IA5String, T61String read as Latin-1,
//!   BMPString, UniversalString, VisibleString) becomes UTF-8, loses leading and trailing
//!   white space, has each inner run of white space folded to one space, has ASCII letters
//!   lower-cased (other bytes untouched), and is re-encoded as a UTF8String; other values stay;
//! - each RDN is a DER `SET` of `SEQUENCE { OID, value }` in DER order, and the RDN sets are
//!   concatenated with no outer SEQUENCE.

use sha1::Digest as _;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::x509::X509Name;

fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

/// Canonical text of a string value, or None for values that are not strings.
fn canonical_text(tag: Tag, data: &[u8]) -> Option<String> {
    let text: String = match tag {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            String::from_utf8_lossy(data).into_owned()
        }
        Tag::T61String => data.iter().map(|&b| b as char).collect(),
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        Tag::UniversalString => data
            .chunks(4)
            .filter_map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b))
            })
            .collect(),
        _ => return None,
    };
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.trim_matches(is_space).chars() {
        if is_space(c) {
            pending_space = true;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c.to_ascii_lowercase());
    }
    Some(out)
}

/// The canonical DER of a name, as OpenSSL hashes it.
pub fn canonical_name(name: &X509Name<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for rdn in name.iter() {
        let mut atvs: Vec<Vec<u8>> = rdn
            .iter()
            .map(|atv| {
                let oid = tlv(0x06, atv.attr_type().as_bytes());
                let value = atv.attr_value();
                let v = match canonical_text(value.header.tag(), value.data) {
                    Some(t) => tlv(0x0c, t.as_bytes()),
                    None => tlv(value.header.tag().0 as u8, value.data),
                };
                let mut seq = oid;
                seq.extend(v);
                tlv(0x30, &seq)
            })
            .collect();
        atvs.sort();
        out.extend(tlv(0x31, &atvs.concat()));
    }
    out
}

/// `openssl x509 -hash` of a name: eight lower-case hex digits.
pub fn subject_hash(name: &X509Name<'_>) -> String {
    let digest = sha1::Sha1::digest(canonical_name(name));
    format!(
        "{:08x}",
        u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
    )
}

/// The subject hash of a DER certificate's subject.
pub fn cert_subject_hash(cert_der: &[u8]) -> Result<String, String> {
    let (_, c) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| e.to_string())?;
    Ok(subject_hash(c.subject()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_folds_case_and_space_like_openssl() {
        assert_eq!(
            canonical_text(Tag::Utf8String, b"  Hello   World\t ").as_deref(),
            Some("hello world")
        );
        assert_eq!(
            canonical_text(Tag::Utf8String, "Ärger  A".as_bytes()).as_deref(),
            Some("Ärger a")
        );
        assert_eq!(
            canonical_text(Tag::BmpString, &[0, b'A', 0, b'b']).as_deref(),
            Some("ab")
        );
        assert_eq!(
            canonical_text(Tag::T61String, &[0xe9]).as_deref(),
            Some("é")
        );
        assert_eq!(canonical_text(Tag::Integer, b"x"), None);
    }

    #[test]
    fn long_lengths_are_encoded_in_long_form() {
        let v = vec![0u8; 300];
        let t = tlv(0x04, &v);
        assert_eq!(&t[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}
