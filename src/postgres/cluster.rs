//! A PostgreSQL cluster as pgcert touches it: the TLS settings of its configuration
//! (`postgresql.conf`, its includes and `postgresql.auto.conf`, relative paths resolved against
//! the data directory as the server does), the data directory's owner, and the running
//! postmaster: asked to reload as that owner, and watched until the change is in effect.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The server's TLS settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `ssl`.
    pub ssl: bool,
    /// `ssl_cert_file`, resolved.
    pub cert: PathBuf,
    /// `ssl_key_file`, resolved.
    pub key: PathBuf,
    /// `ssl_ca_file`, resolved, when set.
    pub ca: Option<PathBuf>,
    /// `ssl_crl_file`, resolved, when set.
    pub crl: Option<PathBuf>,
    /// `ssl_crl_dir`, resolved, when set.
    pub crl_dir: Option<PathBuf>,
    /// `ssl_passphrase_command` is set.
    pub passphrase_command: bool,
    /// The config files read.
    pub sources: Vec<PathBuf>,
}

/// Parse one postgresql.conf value: 'quoted' ('' escapes a quote, \ escapes) or bare.
fn conf_value(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    out.push('\'');
                }
                '\'' => break,
                '\\' => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                c => out.push(c),
            }
        }
        out
    } else {
        raw.split('#').next().unwrap_or("").trim().to_string()
    }
}

/// Read `name = value` settings (later lines win), lower-cased names.
pub fn parse_conf(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (name, rest) = match l.split_once('=') {
            Some((n, r)) if !n.trim().contains(char::is_whitespace) => (n.trim(), r),
            _ => match l.split_once(char::is_whitespace) {
                Some((n, r)) => (n, r),
                None => continue,
            },
        };
        out.push((name.to_ascii_lowercase(), conf_value(rest)));
    }
    out
}

/// Read one configuration file into `settings`, following `include`, `include_if_exists` and
/// `include_dir` (its `*.conf` files in name order) as the server does, relative to the file
/// that names them. Debian's postgresql.conf ends with `include_dir = 'conf.d'`.
fn read_conf_file(
    path: &Path,
    required: bool,
    settings: &mut Vec<(String, String)>,
    sources: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<(), String> {
    if depth > 10 {
        return Err(format!(
            "{}: includes nested more than 10 deep",
            path.display()
        ));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if required => return Err(format!("cannot read {}: {e}", path.display())),
        Err(_) => return Ok(()),
    };
    sources.push(path.to_path_buf());
    let base = path.parent().unwrap_or(Path::new("."));
    for (name, value) in parse_conf(&text) {
        let target = base.join(&value);
        match name.as_str() {
            "include" => read_conf_file(&target, true, settings, sources, depth + 1)?,
            "include_if_exists" => read_conf_file(&target, false, settings, sources, depth + 1)?,
            "include_dir" => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&target)
                    .map_err(|e| format!("cannot read the include_dir {}: {e}", target.display()))?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension().is_some_and(|x| x == "conf")
                            && !p
                                .file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                    .collect();
                files.sort();
                for f in files {
                    read_conf_file(&f, true, settings, sources, depth + 1)?;
                }
            }
            _ => settings.push((name, value)),
        }
    }
    Ok(())
}

/// The ssl settings a server with this data directory (and config file) uses.
pub fn server_settings(pgdata: &Path, config: Option<&Path>) -> Result<ServerSettings, String> {
    let main = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| pgdata.join("postgresql.conf"));
    let mut sources = Vec::new();
    let mut settings: Vec<(String, String)> = Vec::new();
    read_conf_file(&main, true, &mut settings, &mut sources, 0)?;
    read_conf_file(
        &pgdata.join("postgresql.auto.conf"),
        false,
        &mut settings,
        &mut sources,
        0,
    )?;
    let get = |name: &str| {
        settings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let path = |name: &str, default: &str| -> Option<PathBuf> {
        let v = get(name).unwrap_or_else(|| default.to_string());
        if v.is_empty() {
            None
        } else {
            Some(pgdata.join(v))
        }
    };
    let on = |v: Option<String>| {
        v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "on" | "true" | "yes" | "1"))
    };
    Ok(ServerSettings {
        ssl: on(get("ssl")),
        cert: path("ssl_cert_file", "server.crt").expect("default"),
        key: path("ssl_key_file", "server.key").expect("default"),
        ca: path("ssl_ca_file", ""),
        crl: path("ssl_crl_file", ""),
        crl_dir: path("ssl_crl_dir", ""),
        passphrase_command: get("ssl_passphrase_command").is_some_and(|v| !v.is_empty()),
        sources,
    })
}

/// A data directory pgcert writes into: its TLS settings and its owner.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The data directory.
    pub pgdata: PathBuf,
    /// Its TLS settings.
    pub settings: ServerSettings,
    /// (uid, gid) of the data directory: the server's user, who must own and read its files.
    pub owner: (u32, u32),
}

/// The running postmaster, from `postmaster.pid`.
#[derive(Debug, Clone)]
pub struct Postmaster {
    /// Its process id.
    pub pid: u32,
    /// The port.
    pub port: u16,
    /// The first Unix socket directory, if any.
    pub socket_dir: Option<PathBuf>,
    /// The first TCP listen address, if any ("*" means all).
    pub listen: Option<String>,
}

/// What a reload must show before it counts as done.
#[derive(Debug, Clone)]
pub enum Expect {
    /// The server presents a certificate with this serial (uppercase hex) in new handshakes.
    Serial(String),
    /// The server has re-read its configuration (and with it ssl_ca_file and the CRLs).
    Reloaded,
}

/// How the change was seen to take effect.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// In words, for the report.
    pub how: String,
}

impl Cluster {
    /// Open a data directory (it must have PG_VERSION), reading its configuration.
    pub fn open(pgdata: &Path, config: Option<&Path>) -> Result<Cluster, String> {
        if !pgdata.join("PG_VERSION").exists() {
            return Err(format!(
                "{} is not a PostgreSQL data directory (no PG_VERSION)",
                pgdata.display()
            ));
        }
        let settings = server_settings(pgdata, config)?;
        let owner = crate::files::owner_of(pgdata).map_err(|e| format!("{e:#}"))?;
        Ok(Cluster {
            pgdata: pgdata.to_path_buf(),
            settings,
            owner,
        })
    }

    /// The owner's login name.
    pub fn owner_name(&self) -> String {
        crate::users::name_of(self.owner.0).unwrap_or_else(|| self.owner.0.to_string())
    }

    /// The running postmaster of this data directory.
    pub fn postmaster(&self) -> Result<Postmaster, String> {
        let pidfile = self.pgdata.join("postmaster.pid");
        let text = std::fs::read_to_string(&pidfile).map_err(|_| {
            format!(
                "no server is running on {} (no postmaster.pid)",
                self.pgdata.display()
            )
        })?;
        let lines: Vec<&str> = text.lines().collect();
        let field = |i: usize| lines.get(i).map(|l| l.trim()).filter(|l| !l.is_empty());
        let pid: u32 = field(0)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("{}: no process id on its first line", pidfile.display()))?;
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(format!(
                "no server is running on {} (postmaster.pid names process {pid}, which is gone)",
                self.pgdata.display()
            ));
        }
        self.is_its_postmaster(pid)?;
        Ok(Postmaster {
            pid,
            port: field(3).and_then(|p| p.parse().ok()).unwrap_or(5432),
            socket_dir: field(4).map(PathBuf::from),
            listen: field(5).map(str::to_string),
        })
    }

    /// Whether process `pid` is a PostgreSQL server of this data directory: owned by the data
    /// directory's owner, running a `postgres` (or `postmaster`) program, with the data
    /// directory as its working directory (the postmaster changes into it). `postmaster.pid`
    /// is the database account's file: a PID written there is checked before it is signalled.
    fn is_its_postmaster(&self, pid: u32) -> Result<(), String> {
        use std::os::unix::fs::MetadataExt;
        let refuse = |why: String| {
            Err(format!(
                "refusing to signal process {pid}, which {}/postmaster.pid names: {why}",
                self.pgdata.display()
            ))
        };
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let Ok(owner) = std::fs::metadata(&proc).map(|m| m.uid()) else {
            return refuse("it is gone".into());
        };
        if owner != self.owner.0 {
            return refuse(format!(
                "it belongs to {}, not to the data directory's owner {}",
                crate::users::name_of(owner).unwrap_or_else(|| owner.to_string()),
                self.owner_name()
            ));
        }
        let exe = std::fs::read_link(proc.join("exe")).unwrap_or_default();
        let program = exe
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if program != "postgres" && program != "postmaster" {
            return refuse(format!("it runs {}, not postgres", exe.display()));
        }
        let cwd = std::fs::metadata(proc.join("cwd")).map(|m| (m.dev(), m.ino()));
        let dir = std::fs::metadata(&self.pgdata).map(|m| (m.dev(), m.ino()));
        match (cwd, dir) {
            (Ok(a), Ok(b)) if a == b => Ok(()),
            _ => refuse(format!(
                "it is not the server of {} (its working directory is elsewhere)",
                self.pgdata.display()
            )),
        }
    }

    /// Run a command as the data directory's owner (directly when that is this process's
    /// user, through `runuser` when this process is root).
    fn as_owner(&self, program: &str, args: &[String]) -> Result<std::process::Output, String> {
        let me = crate::users::effective_uid().ok_or("cannot tell this process's user")?;
        let mut cmd = if me == self.owner.0 {
            std::process::Command::new(program)
        } else if me == 0 {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", &self.owner_name(), "--", program]);
            c
        } else {
            return Err(format!(
                "the server belongs to {}; run pgcert as {} or as root to reload it",
                self.owner_name(),
                self.owner_name()
            ));
        };
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))
    }

    /// `pg_conf_load_time()` of the running server, asked over its Unix socket as the owner.
    fn conf_load_time(&self, pm: &Postmaster) -> Result<String, String> {
        let dir = pm
            .socket_dir
            .as_ref()
            .ok_or("the server has no Unix socket to ask")?;
        let out = self.as_owner(
            "psql",
            &[
                "-X".into(),
                "-A".into(),
                "-t".into(),
                "-h".into(),
                dir.display().to_string(),
                "-p".into(),
                pm.port.to_string(),
                "-U".into(),
                self.owner_name(),
                "-d".into(),
                "postgres".into(),
                "-c".into(),
                "select pg_conf_load_time()".into(),
            ],
        )?;
        if !out.status.success() {
            return Err(format!(
                "psql as {} over {} failed: {}",
                self.owner_name(),
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The serial (uppercase hex) of the certificate the server presents to a new client.
    fn served_serial(&self, pm: &Postmaster) -> Result<String, String> {
        let host = match pm.listen.as_deref() {
            None => return Err("the server listens on no TCP address".into()),
            Some("*") | Some("0.0.0.0") => "127.0.0.1",
            Some("::") => "::1",
            Some(h) => h,
        };
        match crate::postgres::probe::probe(host, pm.port, None, None, Duration::from_secs(5))? {
            crate::postgres::probe::ProbeOutcome::SslOff => Err("the server has SSL off".into()),
            crate::postgres::probe::ProbeOutcome::Tls(t) => {
                let leaf = t.chain.first().ok_or("the server sent no certificate")?;
                crate::pki::inspect::CertInfo::parse(leaf).map(|c| c.serial.to_string())
            }
        }
    }

    /// Ask the running server to reload (SIGHUP to the postmaster, sent as its owner, which is
    /// what `pg_ctl reload` does) and wait up to `wait` until `expect` is seen.
    pub fn reload(&self, expect: &Expect, wait: Duration) -> Result<Confirmed, String> {
        let pm = self.postmaster()?;
        let before = match expect {
            Expect::Reloaded => Some(self.conf_load_time(&pm)?),
            Expect::Serial(_) => self.conf_load_time(&pm).ok(),
        };
        let out = self.as_owner("kill", &["-HUP".into(), pm.pid.to_string()])?;
        if !out.status.success() {
            return Err(format!(
                "cannot signal the server (process {}): {}",
                pm.pid,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < wait {
            match expect {
                Expect::Serial(want) => match self.served_serial(&pm) {
                    Ok(s) if s.eq_ignore_ascii_case(want) => {
                        return Ok(Confirmed {
                            how: format!(
                                "the server at port {} now presents serial {want}",
                                pm.port
                            ),
                        });
                    }
                    Ok(s) => last = format!("it still presents serial {s}"),
                    Err(e) if e.contains("no TCP address") => {
                        // no TCP: a processed reload is all that can be seen
                        match self.conf_load_time(&pm) {
                            Ok(t) if Some(&t) != before.as_ref() => {
                                return Ok(Confirmed {
                                    how: format!(
                                        "the server reloaded its configuration at {t} (it has no TCP listener to show the certificate on)"
                                    ),
                                });
                            }
                            Ok(_) => last = "it has not reloaded yet".into(),
                            Err(e) => return Err(e),
                        }
                    }
                    Err(e) => last = e,
                },
                Expect::Reloaded => {
                    let t = self.conf_load_time(&pm)?;
                    if Some(&t) != before.as_ref() {
                        return Ok(Confirmed {
                            how: format!("the server reloaded its configuration at {t}"),
                        });
                    }
                    last = "pg_conf_load_time() has not changed".into();
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "the server was asked to reload, but after {} s {last}; see its log (a file it cannot read keeps the old TLS settings)",
            wait.as_secs()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_are_followed_in_order() {
        let d = std::env::temp_dir().join(format!("pgcert-conf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("conf.d")).unwrap();
        let w = |p: &str, t: &str| {
            crate::files::write_one(crate::files::FileWrite::public(
                d.join(p),
                t.as_bytes().to_vec(),
                "test",
                crate::files::Overwrite::Replace,
            ))
            .unwrap()
        };
        w(
            "postgresql.conf",
            "ssl = off\nssl_cert_file = 'a.crt'\ninclude_dir = 'conf.d'\ninclude_if_exists = 'missing.conf'\n",
        );
        w("conf.d/10-ssl.conf", "ssl = on\n");
        w(
            "conf.d/20-cert.conf",
            "ssl_cert_file = 'b.crt'\ninclude = '../extra.conf'\n",
        );
        w("extra.conf", "ssl_key_file = 'x.key'\n");
        let s = server_settings(&d, None).unwrap();
        assert!(s.ssl);
        assert_eq!(s.cert, d.join("b.crt"));
        assert_eq!(s.key, d.join("x.key"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn postgresql_conf_values_parse_like_the_server() {
        let conf = "ssl = on\nssl_cert_file='my ''odd'' name.crt' # comment\nSSL_KEY_FILE server.key\n#ssl_ca_file = 'x'\nssl_crl_file = ''\n";
        let s = parse_conf(conf);
        assert!(s.contains(&("ssl".into(), "on".into())));
        assert!(s.contains(&("ssl_cert_file".into(), "my 'odd' name.crt".into())));
        assert!(s.contains(&("ssl_key_file".into(), "server.key".into())));
        assert!(!s.iter().any(|(n, _)| n == "ssl_ca_file"));
        assert!(s.contains(&("ssl_crl_file".into(), String::new())));
    }
}
