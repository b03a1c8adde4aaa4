//! Certificate serial numbers: random first serials, increments, and OpenSSL's text form
//! (upper-case hex, even digit count, as in `serial`, `.srl` and `index.txt`).

use std::fmt;
use std::str::FromStr;

/// A positive serial number, big-endian without redundant leading zero bytes.
///
/// Ordered by value: with no leading zero bytes a longer magnitude is a larger number, and
/// equal lengths compare byte by byte (`FF` < `0100`, which a derived byte-string order gets
/// wrong: it stopped every CRL after the 255th and misjudged the highest serial).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Serial(Vec<u8>);

impl Ord for Serial {
    fn cmp(&self, other: &Serial) -> std::cmp::Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Serial {
    fn partial_cmp(&self, other: &Serial) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serial {
    /// From the DER INTEGER content (a leading 0x00 sign byte is dropped).
    pub fn from_bytes(bytes: &[u8]) -> Serial {
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        Serial(bytes[first..].to_vec())
    }

    /// A random 128-bit serial with the top bit clear and the top byte non-zero, so it is
    /// positive, at most 16 octets (RFC 5280 allows 20) and always 32 hex digits.
    pub fn random() -> Serial {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).expect("the OS random source works");
        b[0] = (b[0] & 0x7f) | 0x10;
        Serial(b.to_vec())
    }

    /// The next serial.
    pub fn next(&self) -> Serial {
        let mut v = self.0.clone();
        for byte in v.iter_mut().rev() {
            if *byte == 0xff {
                *byte = 0;
            } else {
                *byte += 1;
                return Serial(v);
            }
        }
        v.insert(0, 1);
        Serial(v)
    }

    /// Big-endian magnitude.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Content octets of its DER INTEGER, sign byte included (RFC 5280 allows 20).
    pub fn der_len(&self) -> usize {
        self.0.len() + usize::from(self.0.first().is_some_and(|b| b & 0x80 != 0))
    }

    /// Zero is not a valid certificate serial (RFC 5280 4.1.2.2).
    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// The DER INTEGER content (with a 0x00 sign byte when the top bit is set), for rcgen.
    pub fn to_rcgen(&self) -> rcgen::SerialNumber {
        let mut v = self.0.clone();
        if v.first().is_some_and(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        rcgen::SerialNumber::from_slice(&v)
    }
}

impl fmt::Display for Serial {
    /// Upper-case hex with an even number of digits (`01`, `0A17`), OpenSSL's form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("00");
        }
        for b in &self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl FromStr for Serial {
    type Err = String;

    /// Hex as OpenSSL reads it: case-insensitive, surrounding whitespace ignored; an odd digit
    /// count is refused, as `openssl ca` refuses it.
    fn from_str(s: &str) -> Result<Serial, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty serial".into());
        }
        if !s.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("'{s}' is not hexadecimal"));
        }
        if !s.len().is_multiple_of(2) {
            return Err(format!(
                "'{s}' has an odd number of hex digits (OpenSSL needs an even count, e.g. 0{s})"
            ));
        }
        if s.len() > 40 {
            return Err(format!("'{s}' is longer than 20 octets (RFC 5280)"));
        }
        let bytes = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| format!("'{s}' is not hexadecimal"))?;
        Ok(Serial::from_bytes(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_text_form_matches_openssl() {
        let cases = [
            ("01", "01"),
            ("ff", "FF"),
            ("0A17", "0A17"),
            ("0001", "01"),
            ("80", "80"),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Serial>().unwrap().to_string(), want);
        }
        assert!("5".parse::<Serial>().is_err());
        assert!("zz".parse::<Serial>().is_err());
        assert!("".parse::<Serial>().is_err());
        assert!(
            "é0".parse::<Serial>().is_err(),
            "non-ASCII is refused, not a panic"
        );
    }

    #[test]
    fn next_carries_and_grows() {
        let n = |s: &str| s.parse::<Serial>().unwrap().next().to_string();
        assert_eq!(n("01"), "02");
        assert_eq!(n("FF"), "0100");
        assert_eq!(n("01FF"), "0200");
        assert_eq!(n("00"), "01");
    }

    #[test]
    fn serials_order_by_value_across_byte_boundaries() {
        let s = |t: &str| t.parse::<Serial>().unwrap();
        for (lo, hi) in [
            ("FF", "0100"),
            ("FFFF", "010000"),
            ("02", "0100"),
            ("7F", "80"),
            ("00FF", "0100"),
            ("01", "02"),
        ] {
            assert!(s(lo) < s(hi), "{lo} < {hi}");
            assert!(s(hi) > s(lo), "{hi} > {lo}");
        }
        assert_eq!(s("0001").cmp(&s("01")), std::cmp::Ordering::Equal);
        let mut v = [s("0100"), s("FF"), s("02"), s("010000"), s("FFFF")];
        v.sort();
        let text: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        assert_eq!(text, ["02", "FF", "0100", "FFFF", "010000"]);
        // every successor is larger, through the carries
        let mut x = s("01");
        for _ in 0..70_000 {
            let n = x.next();
            assert!(n > x, "{n} > {x}");
            x = n;
        }
    }

    #[test]
    fn random_serials_are_128_bit_positive_and_distinct() {
        let a = Serial::random();
        let b = Serial::random();
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 32);
        assert!(a.as_bytes()[0] < 0x80 && a.as_bytes()[0] >= 0x10);
    }

    #[test]
    fn high_bit_serials_get_a_sign_byte_for_der() {
        let s: Serial = "80".parse().unwrap();
        assert_eq!(s.to_rcgen().to_bytes(), vec![0x00, 0x80]);
        assert_eq!(s.der_len(), 2);
        let twenty_ff: Serial = "FF".repeat(20).parse().unwrap();
        assert_eq!(
            twenty_ff.der_len(),
            21,
            "needs a sign byte: one octet too many"
        );
    }
}
