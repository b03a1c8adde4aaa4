//! PEM and DER by content, never by file name: a `.crt` may hold DER, a `.pem` a CSR.
//! This module only splits bytes into labelled DER blobs; what they mean is for `inspect`
//! and `chain`.

/// True when the bytes look like PEM text (a `-----BEGIN ` line somewhere near the top;
/// OpenSSL's `-text` dumps put readable text before it).
pub fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// One DER object with its PEM label (`None` for raw DER input).
#[derive(Debug, Clone)]
pub struct Block {
    /// The PEM tag, e.g. "CERTIFICATE".
    pub label: Option<String>,
    /// The DER bytes.
    pub der: Vec<u8>,
}

/// Split a file into DER blocks: every PEM block, or the whole file as one DER block.
pub fn blocks(bytes: &[u8]) -> Result<Vec<Block>, String> {
    if looks_like_pem(bytes) {
        let pems = ::pem::parse_many(bytes).map_err(|e| format!("malformed PEM: {e}"))?;
        if pems.is_empty() {
            return Err("no PEM block found".into());
        }
        Ok(pems
            .into_iter()
            .map(|p| Block {
                label: Some(p.tag().to_string()),
                der: p.into_contents(),
            })
            .collect())
    } else if bytes.first() == Some(&0x30) {
        Ok(vec![Block {
            label: None,
            der: bytes.to_vec(),
        }])
    } else if bytes.is_empty() {
        Err("the file is empty".into())
    } else {
        Err("neither PEM text nor DER".into())
    }
}

/// PEM-encode with LF line endings, the form OpenSSL writes.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(label, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

/// Upper-case colon-separated hex, as `openssl x509 -fingerprint` prints it.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Upper-case hex without separators.
pub fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_recognised_after_a_text_dump() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x01];
        let mut text = b"Certificate:\n    Data: ...\n".to_vec();
        text.extend_from_slice(to_pem("CERTIFICATE", &der).as_bytes());
        let b = blocks(&text).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].label.as_deref(), Some("CERTIFICATE"));
        assert_eq!(b[0].der, der);
    }

    #[test]
    fn der_and_garbage_are_told_apart() {
        assert_eq!(blocks(&[0x30, 0x00]).unwrap()[0].label, None);
        assert!(blocks(b"").is_err());
        assert!(blocks(b"hello").is_err());
    }
}
