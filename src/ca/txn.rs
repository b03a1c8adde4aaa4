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

use anyhow::{Context, Result, anyhow};

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
        Ok(CaTxn {
            ca: self.clone(),
            _file: f,
        })
    }
}

impl CaTxn {
    /// The CA this transaction holds.
    pub fn ca(&self) -> &CaDir {
        &self.ca
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
                let entries = index::read_index(&self.ca.index())?;
                if entries
                    .iter()
                    .any(|e| e.status == index::Status::Valid && &e.subject == subject)
                {
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
                let text = std::fs::read_to_string(self.ca.index())
                    .with_context(|| format!("cannot read {}", self.ca.index().display()))?;
                index::revoke_in_text(
                    &text,
                    &old.to_string(),
                    time::OffsetDateTime::now_utc(),
                    Some("superseded"),
                )
                .map_err(|e| anyhow!("cannot revoke the old certificate: {e}"))?;
            }
            let placement = prepare(&issued)?;
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
        // 4. the outputs
        let written = match placement.place() {
            Ok(written) => written,
            Err(e) => {
                let _ = files::truncate(&self.ca.index(), old_len);
                files::remove_placed(&newcert);
                undo_serial();
                return Err(e);
            }
        };
        // 5. (renew --revoke-old) revoke the old certificate only now that the new files are in
        //    place: a kill before this leaves the old one valid, never a revoked one in use
        if let Some(old) = revoke_old {
            self.revoke_in_index(old, "superseded").map_err(|e| {
                e.context(Hint::new(format!(
                    "the new certificate is in place; revoke the old one with 'pgcert revoke --ca {} {old} --reason superseded'",
                    self.ca.dir().display()
                )))
            })?;
        }
        Ok((issued, written))
    }

    /// Mark `serial` revoked in `index.txt` (rewritten atomically).
    fn revoke_in_index(&self, serial: &Serial, reason: &str) -> Result<()> {
        let before = std::fs::read_to_string(self.ca.index())
            .with_context(|| format!("cannot read {}", self.ca.index().display()))?;
        let after = index::revoke_in_text(
            &before,
            &serial.to_string(),
            time::OffsetDateTime::now_utc(),
            Some(reason),
        )
        .map_err(|e| anyhow!("cannot revoke the old certificate: {e}"))?;
        files::write_one(FileWrite::public(
            self.ca.index(),
            after.into_bytes(),
            "CA database",
            Overwrite::Replace,
        ))?;
        Ok(())
    }
}

/// Outputs staged for an issuance, put in place as its last step.
pub trait Placement {
    /// Put the outputs in place, or fail having placed nothing.
    fn place(self) -> Result<Vec<Written>>;
}

impl Placement for Staging {
    fn place(self) -> Result<Vec<Written>> {
        self.commit()
    }
}
