//! `index.txt`, OpenSSL's text database: one line per issued certificate, six TAB-separated
//! fields — status (V/R/E), expiry, revocation (`time[,reason]`), serial (upper-case hex),
//! file name (always `unknown`), subject (one-line form). Times are UTCTime
//! (`YYMMDDHHMMSSZ`) before 2050 and GeneralizedTime (`YYYYMMDDHHMMSSZ`) from 2050, exactly
//! as the certificate encodes them.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::pki::inspect::CertInfo;

/// V, R or E.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Status {
    /// Valid.
    Valid,
    /// Revoked.
    Revoked,
    /// Expired (written by `openssl ca -updatedb`).
    Expired,
}

impl Status {
    fn letter(self) -> char {
        match self {
            Status::Valid => 'V',
            Status::Revoked => 'R',
            Status::Expired => 'E',
        }
    }
}

/// One line of `index.txt`, fields kept as text so lines pgcert did not write round-trip
/// byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// V/R/E.
    pub status: Status,
    /// notAfter, ASN.1 text form.
    pub expiry: String,
    /// Empty, or revocation time with an optional `,reason`.
    pub revocation: String,
    /// Serial, upper-case hex.
    pub serial: String,
    /// Always `unknown` in practice.
    pub filename: String,
    /// Subject in one-line form.
    pub subject: String,
}

impl IndexEntry {
    /// The `V` line for a newly issued certificate.
    pub fn for_new_cert(cert: &CertInfo) -> IndexEntry {
        IndexEntry {
            status: Status::Valid,
            expiry: asn1_time(cert.not_after),
            revocation: String::new(),
            serial: cert.serial.to_string(),
            filename: "unknown".into(),
            subject: cert.subject.clone(),
        }
    }

    /// Parse one line (without its newline).
    pub fn parse(line: &str) -> Result<IndexEntry, String> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 6 {
            return Err(format!(
                "expected 6 TAB-separated fields, found {}",
                f.len()
            ));
        }
        let status = match f[0] {
            "V" => Status::Valid,
            "R" => Status::Revoked,
            "E" => Status::Expired,
            other => return Err(format!("unknown status '{other}' (expected V, R or E)")),
        };
        parse_asn1_time(f[1]).map_err(|e| format!("expiry: {e}"))?;
        if status == Status::Revoked {
            let t = f[2].split(',').next().unwrap_or("");
            parse_asn1_time(t).map_err(|e| format!("revocation time: {e}"))?;
        }
        if f[3].is_empty() || !f[3].chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("serial '{}' is not hexadecimal", f[3]));
        }
        Ok(IndexEntry {
            status,
            expiry: f[1].into(),
            revocation: f[2].into(),
            serial: f[3].into(),
            filename: f[4].into(),
            subject: f[5].into(),
        })
    }
}

impl fmt::Display for IndexEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\t{}\t{}\t{}\t{}\t{}",
            self.status.letter(),
            self.expiry,
            self.revocation,
            self.serial,
            self.filename,
            self.subject
        )
    }
}

/// RFC 5280 reason codes in OpenSSL's `index.txt` spelling.
pub const REASONS: &[&str] = &[
    "unspecified",
    "keyCompromise",
    "CACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "removeFromCRL",
];

/// Mark the line for `serial` revoked at `time` with an optional reason, in the text of an
/// `index.txt`; every other line is kept byte for byte. Errors: unknown serial, already revoked.
pub fn revoke_in_text(
    text: &str,
    serial: &str,
    time: OffsetDateTime,
    reason: Option<&str>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 32);
    let mut found = false;
    for line in text.lines() {
        match IndexEntry::parse(line) {
            Ok(mut e) if e.serial.eq_ignore_ascii_case(serial) => {
                if e.status == Status::Revoked {
                    return Err(format!("serial {serial} is already revoked"));
                }
                e.status = Status::Revoked;
                e.revocation = match reason {
                    Some(r) => format!("{},{r}", asn1_utc(time)),
                    None => asn1_utc(time),
                };
                found = true;
                out.push_str(&e.to_string());
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    if !found {
        return Err(format!("serial {serial} is not in the database"));
    }
    Ok(out)
}

/// Revocation times are always UTCTime in `index.txt` (OpenSSL writes them so).
fn asn1_utc(t: OffsetDateTime) -> String {
    let s = asn1_time(t);
    if s.len() == 15 { s[2..].to_string() } else { s }
}

/// Read every line of an `index.txt`. Errors name the line.
pub fn read_index(path: &Path) -> Result<Vec<IndexEntry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the CA database {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            IndexEntry::parse(l).map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The ASN.1 text form of a time as X.509 encodes it (RFC 5280 4.1.2.5).
pub fn asn1_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    if t.year() < 2050 {
        format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            t.year() % 100,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    } else {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

/// Parse `YYMMDDHHMMSSZ` or `YYYYMMDDHHMMSSZ`.
pub fn parse_asn1_time(s: &str) -> Result<OffsetDateTime, String> {
    let digits = s
        .strip_suffix('Z')
        .filter(|d| d.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| format!("'{s}' is not an ASN.1 time"))?;
    let (year, rest) = match digits.len() {
        12 => {
            let yy: i32 = digits[..2].parse().expect("digits");
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        14 => (digits[..4].parse().expect("digits"), &digits[4..]),
        _ => return Err(format!("'{s}' is not an ASN.1 time")),
    };
    let n = |i: usize| rest[i..i + 2].parse::<u8>().expect("digits");
    let bad = |_| format!("'{s}' is not a valid date");
    let month = Month::try_from(n(0)).map_err(bad)?;
    let date = Date::from_calendar_date(year, month, n(2)).map_err(bad)?;
    let time = Time::from_hms(n(4), n(6), n(8)).map_err(bad)?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lines_round_trip_byte_for_byte() {
        let lines = [
            "V\t361121010041Z\t\t5402E29D72C452BE7769C42001CD5CA7056F1264\tunknown\t/CN=Demo Root",
            "R\t271124010041Z\t261124010041Z,keyCompromise\t5402E29D72C452BE7769C42001CD5CA7056F1267\tunknown\t/CN=bob",
            "V\t20510101000000Z\t\t68\tunknown\t/CN=far",
            "E\t210101000000Z\t\t69\tunknown\t/CN=old",
        ];
        for l in lines {
            assert_eq!(IndexEntry::parse(l).unwrap().to_string(), l);
        }
    }

    #[test]
    fn bad_index_lines_are_named() {
        for bad in [
            "V\t1\t\t01\tunknown",
            "X\t361121010041Z\t\t01\tunknown\t/CN=a",
            "V\t361121010041Z\t\tZZ\tunknown\t/CN=a",
        ] {
            assert!(IndexEntry::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revoking_changes_one_line_only() {
        let text =
            "V\t361121010041Z\t\t01\tunknown\t/CN=a\nV\t361121010041Z\t\t02\tunknown\t/CN=b\n";
        let t = parse_asn1_time("261124010041Z").unwrap();
        let out = revoke_in_text(text, "02", t, Some("superseded")).unwrap();
        assert_eq!(
            out,
            "V\t361121010041Z\t\t01\tunknown\t/CN=a\nR\t361121010041Z\t261124010041Z,superseded\t02\tunknown\t/CN=b\n"
        );
        assert!(
            revoke_in_text(&out, "02", t, None)
                .unwrap_err()
                .contains("already revoked")
        );
        assert!(
            revoke_in_text(text, "03", t, None)
                .unwrap_err()
                .contains("not in the database")
        );
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        let t = parse_asn1_time("491231235959Z").unwrap();
        assert_eq!(asn1_time(t), "491231235959Z");
        let t = parse_asn1_time("20510630120000Z").unwrap();
        assert_eq!(t.year(), 2051);
        assert_eq!(asn1_time(t), "20510630120000Z");
        assert_eq!(parse_asn1_time("500101000000Z").unwrap().year(), 1950);
    }
}
