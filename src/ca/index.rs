//! `index.txt`, OpenSSL's text database: one line per issued certificate, six TAB-separated
//! fields — status (V/R/E), expiry, revocation (`time[,reason]`), serial (upper-case hex),
//! file name (always `unknown`), subject (one-line form). Times are UTCTime
//! (`YYMMDDHHMMSSZ`) before 2050 and GeneralizedTime (`YYYYMMDDHHMMSSZ`) from 2050, exactly
//! as the certificate encodes them.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::error::Hint;
use crate::pki::inspect::CertInfo;
use crate::pki::serial::Serial;

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

    /// Mark it revoked at `time`, with an optional reason (OpenSSL's spelling).
    pub fn revoke(&mut self, time: OffsetDateTime, reason: Option<&str>) {
        self.status = Status::Revoked;
        self.revocation = match reason {
            Some(r) => format!("{},{r}", asn1_utc(time)),
            None => asn1_utc(time),
        };
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
                e.revoke(time, reason);
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

/// Mark the line for `serial` revoked in the `index.txt` at `path`, streamed and atomic; every
/// other line is kept byte for byte. Errors (nothing written): unknown serial, already revoked.
/// Returns the revoked line.
pub fn revoke_in_file(
    path: &Path,
    serial: &Serial,
    time: OffsetDateTime,
    reason: Option<&str>,
) -> Result<IndexEntry> {
    // find it first, so a refusal writes nothing
    let mut found: Option<IndexEntry> = None;
    scan(path, |_, e| {
        if found.is_none() && e.serial.parse::<Serial>().ok().as_ref() == Some(serial) {
            found = Some(e);
        }
        Ok(())
    })?;
    let Some(mut e) = found else {
        anyhow::bail!("serial {serial} is not in the database");
    };
    if e.status == Status::Revoked {
        anyhow::bail!("serial {serial} is already revoked");
    }
    e.status = Status::Revoked;
    e.revocation = match reason {
        Some(r) => format!("{},{r}", asn1_utc(time)),
        None => asn1_utc(time),
    };
    let new_line = e.to_string();
    let mut done = false;
    crate::files::rewrite_lines(path, |line| {
        if done {
            return Ok(None);
        }
        let serial_field = line.split('\t').nth(3).unwrap_or("");
        if serial_field.parse::<Serial>().ok().as_ref() == Some(serial) {
            done = true;
            return Ok(Some(new_line.clone()));
        }
        Ok(None)
    })?;
    Ok(e)
}

/// Revocation times are always UTCTime in `index.txt` (OpenSSL writes them so).
fn asn1_utc(t: OffsetDateTime) -> String {
    let s = asn1_time(t);
    if s.len() == 15 { s[2..].to_string() } else { s }
}

/// Stream the lines of an `index.txt` (memory does not grow with the file): `f` gets the line
/// number and the parsed line. Empty lines are skipped; any other line that does not parse is
/// an error naming it.
pub fn scan(path: &Path, mut f: impl FnMut(usize, IndexEntry) -> Result<()>) -> Result<()> {
    use std::io::BufRead;
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read the CA database {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader
            .read_line(&mut line)
            .with_context(|| format!("cannot read the CA database {}", path.display()))?
            == 0
        {
            return Ok(());
        }
        n += 1;
        let text = line.strip_suffix('\n').unwrap_or(&line);
        if text.is_empty() {
            continue;
        }
        let e =
            IndexEntry::parse(text).map_err(|e| anyhow::anyhow!("{}:{n}: {e}", path.display()))?;
        f(n, e)?;
    }
}

/// What a full check of an `index.txt` found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Lines (records).
    pub records: usize,
    /// The highest serial recorded.
    pub max_serial: Option<Serial>,
    /// A last line cut short by a crash (no newline, does not parse): where it starts and its
    /// bytes. The only damage tolerated, and only by moving it to a side file.
    pub torn_tail: Option<(u64, Vec<u8>)>,
}

/// Check a whole `index.txt` as `openssl ca` would load it: every line has six fields, a
/// status, parseable dates and a hex serial, and no serial appears twice. Errors name the line
/// and the fix; nothing is repaired here.
pub fn check(path: &Path) -> Result<Checked> {
    let bytes_len = std::fs::metadata(path)
        .with_context(|| format!("cannot read the CA database {}", path.display()))?
        .len();
    // a torn tail: the text after the last newline, if it does not parse
    let tail = {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path)
            .with_context(|| format!("cannot read the CA database {}", path.display()))?;
        let start = bytes_len.saturating_sub(65536);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        match buf.last() {
            None | Some(b'\n') => None,
            Some(_) => {
                let cut = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                let frag = &buf[cut..];
                let parses = std::str::from_utf8(frag).is_ok_and(|t| IndexEntry::parse(t).is_ok());
                (!parses && (start == 0 || cut > 0)).then(|| (start + cut as u64, frag.to_vec()))
            }
        }
    };
    let limit = tail.as_ref().map_or(u64::MAX, |(at, _)| *at);
    let mut seen: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    let mut out = Checked {
        torn_tail: tail,
        ..Checked::default()
    };
    let mut err = None;
    let r = scan_until(path, limit, |n, e| {
        let serial: Serial = e
            .serial
            .parse()
            .map_err(|x| anyhow::anyhow!("{}:{n}: serial {x}", path.display()))?;
        if let Some(first) = seen.insert(serial.as_bytes().to_vec(), n) {
            err = Some(anyhow::anyhow!(
                "{}:{n}: serial {} appears again (first on line {first}); `openssl ca` refuses this database",
                path.display(),
                e.serial
            ));
            return Err(anyhow::anyhow!("duplicate"));
        }
        if out.max_serial.as_ref().is_none_or(|m| &serial > m) {
            out.max_serial = Some(serial);
        }
        out.records += 1;
        Ok(())
    });
    if let Some(e) = err {
        return Err(e.context(Hint::new(
            "the database is damaged: fix the line by hand (or restore a backup); pgcert will not guess",
        )));
    }
    r.map_err(|e| {
        e.context(Hint::new(
            "the database is damaged: fix the line by hand (or restore a backup); pgcert will not guess",
        ))
    })?;
    Ok(out)
}

/// `scan` limited to the bytes before `limit`.
fn scan_until(
    path: &Path,
    limit: u64,
    mut f: impl FnMut(usize, IndexEntry) -> Result<()>,
) -> Result<()> {
    use std::io::{BufRead, Read};
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read the CA database {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file.take(limit));
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        let len = reader
            .read_line(&mut line)
            .with_context(|| format!("cannot read the CA database {}", path.display()))?;
        if len == 0 {
            return Ok(());
        }
        n += 1;
        let text = line.strip_suffix('\n').unwrap_or(&line);
        if text.is_empty() {
            continue;
        }
        let e =
            IndexEntry::parse(text).map_err(|e| anyhow::anyhow!("{}:{n}: {e}", path.display()))?;
        f(n, e)?;
    }
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
