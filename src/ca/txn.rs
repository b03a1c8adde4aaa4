//! The CA transaction: the advisory lock on a CA directory as a guard value. A CA's database
//! (`serial`, `index.txt`, `newcerts/`, `crlnumber`, `crl.pem`) is changed only through the
//! `CaTxn` of that directory, so no code can write one CA's files while holding another's lock.
//!
//! Crash-safety of issuance (docs/ca-database.md): under the lock, `serial` is advanced
//! *before* anything is signed, so a crash at any later point leaves at worst an unused serial,
//! never a signed certificate whose serial is handed out again; `newcerts/<SERIAL>.pem` is
//! created with no-clobber semantics, so even a stale `serial` file cannot reuse a recorded
//! serial; the `index.txt` line is appended (not rewritten), which keeps issuance O(1) in the
//! size of the database. A failure (not a crash) undoes every step.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use crate::ca::dir::CaDir;
use crate::ca::index::{self, IndexEntry};
use crate::error::Hint;
use crate::files::{self, FileWrite, Overwrite, Staging, Written};
use crate::pki::issue::Issued;
use crate::pki::serial::Serial;

/// The lock on one CA directory, held until dropped; the database of that CA is changed
/// through it.
pub struct CaTxn {
    ca: CaDir,
    _file: File,
    /// The highest serial in `index.txt`, known valid (see `check_index`).
    index_max: std::cell::RefCell<Option<Serial>>,
    /// The index was fully checked and found valid, but not yet remembered as such.
    checked_unrecorded: std::cell::Cell<bool>,
}

/// Beside `index.txt`: its size, mtime and a hash of its tail when pgcert last wrote or fully
/// checked it, and its highest serial. When the file still matches, it is known valid and the
/// full check (200,000 lines) is skipped; any other change (`openssl ca`, an editor) triggers it.
const INDEX_STATE: &str = ".pgcert.index-state";

fn index_fingerprint(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::MetadataExt;
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let m = f.metadata()?;
    let start = m.len().saturating_sub(4096);
    f.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let h = sha2::Sha256::digest(&tail);
    Ok(format!(
        "{} {}.{} {:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        h[0],
        h[1],
        h[2],
        h[3],
        h[4],
        h[5],
        h[6],
        h[7]
    ))
}

impl CaDir {
    /// Take the advisory lock (blocking). `waiting` is called once if another process holds it.
    pub fn lock(&self, waiting: impl FnOnce(&Path)) -> Result<CaTxn> {
        let f = files::open_lock_file(&self.lock_path())?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                waiting(self.dir());
                f.lock()
                    .with_context(|| format!("cannot lock {}", self.dir().display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(anyhow!(e).context(format!("cannot lock {}", self.dir().display())));
            }
        }
        // finish or undo what a killed pgcert left here (temp files, journaled placements);
        // newcerts/ copies are staged in this directory, so newcerts/ is never listed
        files::recover(self.dir());
        let txn = CaTxn {
            ca: self.clone(),
            _file: f,
            index_max: std::cell::RefCell::new(None),
            checked_unrecorded: std::cell::Cell::new(false),
        };
        let max = txn.check_index()?;
        *txn.index_max.borrow_mut() = max;
        Ok(txn)
    }
}

impl CaTxn {
    /// The CA this transaction holds.
    pub fn ca(&self) -> &CaDir {
        &self.ca
    }

    /// Every write starts from an `index.txt` known to be valid: fully checked (as `openssl
    /// ca` loads it) unless it is byte-for-byte what pgcert last wrote or checked. A last line
    /// cut short by a crash is the one damage repaired, by moving it to a side file
    /// (`index.txt.torn-TIME`); anything else is an error naming the line. Returns the highest
    /// serial recorded.
    fn check_index(&self) -> Result<Option<Serial>> {
        let index = self.ca.index();
        let state = self.ca.dir().join(INDEX_STATE);
        let fp = index_fingerprint(&index)?;
        if let Ok(t) = std::fs::read_to_string(&state)
            && let Some((f, max)) = t.trim_end().split_once('\t')
            && f == fp
        {
            return Ok(if max == "-" { None } else { max.parse().ok() });
        }
        let checked = index::check(&index)?;
        if let Some((at, bytes)) = &checked.torn_tail {
            let side = self.ca.dir().join(format!(
                "index.txt.torn-{}",
                time::OffsetDateTime::now_utc().unix_timestamp()
            ));
            files::write_one(FileWrite::public(
                side,
                bytes.clone(),
                "torn index line",
                Overwrite::Never,
            ))?;
            files::truncate(&index, *at)?;
            self.record_index(checked.max_serial.as_ref())?;
        }
        // remembered only once this transaction changes the CA (a command that fails leaves the
        // CA directory byte-identical)
        self.checked_unrecorded.set(true);
        Ok(checked.max_serial)
    }

    /// Remember `index.txt` as pgcert leaves it, with its highest serial.
    fn record_index(&self, max: Option<&Serial>) -> Result<()> {
        let fp = index_fingerprint(&self.ca.index())?;
        let max_text = max.map_or_else(|| "-".to_string(), Serial::to_string);
        files::write_one(
            FileWrite::public(
                self.ca.dir().join(INDEX_STATE),
                format!("{fp}\t{max_text}\n").into_bytes(),
                "CA database cache",
                Overwrite::Replace,
            )
            .cache(),
        )?;
        Ok(())
    }

    /// After this transaction changed another file of the CA (`crlnumber`): remember a full
    /// check it made, so the next command skips it.
    pub fn ca_written(&self) -> Result<()> {
        if self.checked_unrecorded.replace(false) {
            self.record_index(self.index_max.borrow().as_ref())?;
        }
        Ok(())
    }

    /// After this transaction wrote `index.txt` (adding `added`, if any): remember it.
    pub fn index_written(&self, added: Option<&Serial>) -> Result<()> {
        let mut max = self.index_max.borrow_mut();
        if let Some(a) = added
            && max.as_ref().is_none_or(|m| a > m)
        {
            *max = Some(a.clone());
        }
        self.record_index(max.as_ref())
    }

    /// Whether `serial` is already in `index.txt` (a full scan only when it is not above the
    /// highest serial recorded).
    fn in_index(&self, serial: &Serial) -> Result<Option<usize>> {
        if self.index_max.borrow().as_ref().is_none_or(|m| serial > m) {
            return Ok(None);
        }
        let mut found = None;
        index::scan(&self.ca.index(), |n, e| {
            if found.is_none() && e.serial.parse::<Serial>().ok().as_ref() == Some(serial) {
                found = Some(n);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// Hand out the next serial, sign with it, record the certificate and put the outputs in
    /// place, all under the caller's lock. `sign` gets the serial; `prepare` stages the
    /// outputs (temp files only) for the signed certificate. See the module docs for the order.
    pub fn issue_and_record<P: Placement>(
        &self,
        sign: impl FnOnce(Serial) -> Result<Issued>,
        prepare: impl FnOnce(&Issued) -> Result<P>,
        revoke_old: Option<&Serial>,
    ) -> Result<(Issued, Vec<Written>)> {
        let serial = self.ca.read_serial()?;
        let newcert = self.ca.newcerts().join(format!("{serial}.pem"));
        if let Some(line) = self.in_index(&serial)? {
            return Err(anyhow!(
                "serial {serial} (from {}) has already been issued: {}:{line} records it",
                self.ca.serial().display(),
                self.ca.index().display()
            )
            .context(Hint::new(
                "the serial file is behind the database; set it above the highest serial in index.txt",
            )));
        }
        if newcert.exists() {
            return Err(anyhow!(
                "serial {serial} (from {}) has already been issued: {} exists",
                self.ca.serial().display(),
                newcert.display()
            )
            .context(Hint::new(
                "the serial file is behind the database; set it above the highest serial in index.txt",
            )));
        }
        // 1. reserve the serial before anything is signed: from here on a crash can only skip
        //    it, never leave a signed certificate whose serial is handed out again
        files::write_one(FileWrite::public(
            self.ca.serial(),
            format!("{}\n", serial.next()).into_bytes(),
            "CA database",
            Overwrite::Replace,
        ))?;
        let undo_serial = || {
            let _ = files::write_one(FileWrite::public(
                self.ca.serial(),
                format!("{serial}\n").into_bytes(),
                "CA database",
                Overwrite::Replace,
            ));
        };
        let signed = (|| -> Result<(Issued, P, Staging)> {
            let issued = sign(serial.clone())?;
            if self.ca.unique_subject() {
                let subject = &issued.cert.subject;
                let mut taken = false;
                index::scan(&self.ca.index(), |_, e| {
                    taken |= e.status == index::Status::Valid && &e.subject == subject;
                    Ok(())
                })?;
                if taken {
                    return Err(anyhow!(
                        "{} has unique_subject = yes and already holds a valid certificate for {subject}",
                        self.ca.index_attr().display()
                    )
                    .context(Hint::new(
                        "revoke the old certificate first, or set 'unique_subject = no' in index.txt.attr",
                    )));
                }
            }
            if let Some(old) = revoke_old {
                // will the old one be revocable? find out before anything is recorded
                let mut status = None;
                index::scan(&self.ca.index(), |_, e| {
                    if e.serial.parse::<Serial>().ok().as_ref() == Some(old) {
                        status = Some(e.status);
                    }
                    Ok(())
                })?;
                match status {
                    None => bail!(
                        "cannot revoke the old certificate: serial {old} is not in the database"
                    ),
                    Some(index::Status::Revoked) => {
                        bail!("cannot revoke the old certificate: serial {old} is already revoked")
                    }
                    Some(_) => {}
                }
            }
            let mut placement = prepare(&issued)?;
            let mut record = Staging::new();
            // staged in the CA directory, linked into newcerts/: the lock's sweep for temp
            // files left by a kill then never has to list newcerts/ (200,000 entries)
            record.stage(
                FileWrite::public(
                    newcert.clone(),
                    issued.cert.pem().into_bytes(),
                    "certificate (CA database copy)",
                    Overwrite::Never,
                )
                .staged_in(self.ca.dir()),
            )?;
            // the database copy and the outputs are flushed in one round, before either is
            // linked into place (commit and place then have nothing left to flush)
            let mut temps = record.take_unflushed();
            temps.extend(placement.take_unflushed());
            files::fsync_all(&temps)?;
            Ok((issued, placement, record))
        })();
        // a failure (not a crash) before anything is recorded: the serial was never used
        // outside this process's memory and temp files its Staging removes, so give it back
        let (issued, placement, record) = match signed {
            Ok(x) => x,
            Err(e) => {
                undo_serial();
                return Err(e);
            }
        };
        // 2. newcerts/<SERIAL>.pem, no-clobber
        if let Err(e) = record.commit() {
            undo_serial();
            return Err(e);
        }
        // 3. the index line, appended
        let line = IndexEntry::for_new_cert(&issued.cert).to_string();
        let old_len =
            match files::append_line(&self.ca.index(), &line, |l| IndexEntry::parse(l).is_ok()) {
                Ok(len) => len,
                Err(e) => {
                    files::remove_placed(&newcert);
                    undo_serial();
                    return Err(e);
                }
            };
        self.index_written(Some(&serial))?;
        // 4. the outputs
        let written = match placement.place() {
            Ok(written) => written,
            Err(e) => {
                let _ = files::truncate(&self.ca.index(), old_len);
                let _ = self.record_index(self.index_max.borrow().as_ref());
                files::remove_placed(&newcert);
                undo_serial();
                return Err(e);
            }
        };
        // 5. (renew --revoke-old) revoke the old certificate only now that the new files are in
        //    place: a kill before this leaves the old one valid, never a revoked one in use
        if let Some(old) = revoke_old {
            self.revoke_in_index(old, Some("superseded"), time::OffsetDateTime::now_utc())
                .map_err(|e| {
                e.context(Hint::new(format!(
                    "the new certificate is in place; revoke the old one with 'pgcert revoke --ca {} {old} --reason superseded'",
                    self.ca.dir().display()
                )))
            })?;
        }
        Ok((issued, written))
    }

    /// Mark `serial` revoked in `index.txt` (streamed, rewritten atomically).
    pub fn revoke_in_index(
        &self,
        serial: &Serial,
        reason: Option<&str>,
        now: time::OffsetDateTime,
    ) -> Result<IndexEntry> {
        let e = index::revoke_in_file(&self.ca.index(), serial, now, reason)
            .map_err(|e| anyhow!("cannot revoke: {e:#}"))?;
        self.index_written(None)?;
        Ok(e)
    }
}

/// Outputs staged for an issuance, put in place as its last step.
pub trait Placement {
    /// Put the outputs in place, or fail having placed nothing.
    fn place(self) -> Result<Vec<Written>>;
    /// Files still to be flushed before [`Placement::place`], handed over so they are flushed
    /// in one round with the database's own (and not again by `place`). None by default: a
    /// new CA directory is flushed before it is renamed into place.
    fn take_unflushed(&mut self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

impl Placement for Staging {
    fn place(self) -> Result<Vec<Written>> {
        self.commit()
    }
    fn take_unflushed(&mut self) -> Vec<std::path::PathBuf> {
        Staging::take_unflushed(self)
    }
}
