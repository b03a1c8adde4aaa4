//! Test support: a Sandbox (fresh directory, the real pgcert binary, a clean environment),
//! the real openssl CLI, and a real PostgreSQL 15 server run as the `postgres` user.
//!
//! External tools are required when CI=true (a missing one fails the test); elsewhere a test
//! that needs a missing tool says so on stderr and returns early.

#![allow(dead_code, clippy::print_stderr, clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

/// True when running in CI, where no external-tool test may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `tool` is on PATH; in CI a missing tool is a test failure.
pub fn require(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            !in_ci(),
            "{tool} is required in CI but missing (run .ci/run)"
        );
        eprintln!("SKIPPED: {tool} not installed");
    }
    found
}

/// A fresh directory with helpers to run pgcert and openssl in it.
pub struct Sandbox {
    pub dir: PathBuf,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let base = std::env::var_os("PGCERT_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!(
            "pgcert-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        // PostgreSQL runs as `postgres` and must traverse the sandbox
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Sandbox { dir }
    }

    /// A certificate file's serial, as openssl prints it.
    pub fn serial_of(&self, cert: &str) -> String {
        self.openssl_ok(&["x509", "-in", cert, "-noout", "-serial"])
            .trim()
            .trim_start_matches("serial=")
            .to_string()
    }

    /// Every document of a YAML file, parsed by PyYAML, as JSON.
    pub fn yaml_documents(&self, rel: &str) -> Vec<serde_json::Value> {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
            ])
            .arg(self.path(rel))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array().unwrap().clone()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn pgcert_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pgcert"));
        c.args(args)
            .current_dir(&self.dir)
            .env_remove("PGCERT_CA")
            .env("HOME", self.dir.join("home"))
            .env("USER", "tester")
            .stdin(Stdio::null());
        c
    }

    /// Run pgcert; returns the output whatever the status.
    pub fn pgcert(&self, args: &[&str]) -> Output {
        self.pgcert_cmd(args).output().expect("pgcert runs")
    }

    /// Run pgcert and require success.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.pgcert(args);
        if !out.status.success() {
            panic!("{}", self.explain("pgcert", args, &out));
        }
        out
    }

    /// Run pgcert and require exit code 1 with one `error:` line.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.pgcert(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.code() != Some(1) {
            panic!("expected exit 1\n{}", self.explain("pgcert", args, &out));
        }
        assert_eq!(
            err.matches("error:").count(),
            1,
            "one error message expected:\n{err}"
        );
        assert!(out.stdout.is_empty(), "nothing on stdout on failure");
        err
    }

    pub fn openssl(&self, args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .env("SSL_CERT_FILE", "/dev/null")
            .stdin(Stdio::null())
            .output()
            .expect("openssl runs")
    }

    pub fn openssl_ok(&self, args: &[&str]) -> String {
        let out = self.openssl(args);
        if !out.status.success() {
            panic!("{}", self.explain("openssl", args, &out));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `openssl req -new -nodes` with a new P-256 key: a CSR (or with `-x509` in `extra`, a
    /// self-signed certificate) in `out`, the key in `key`, plus any `extra` arguments.
    pub fn openssl_ec_req(&self, key: &str, out: &str, subj: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ];
        args.extend(["-keyout", key, "-out", out, "-subj", subj]);
        args.extend_from_slice(extra);
        self.openssl_ok(&args)
    }

    pub fn explain(&self, prog: &str, args: &[&str], out: &Output) -> String {
        format!(
            "command: {prog} {}\nstatus: {:?}\nstdout:\n{}\nstderr:\n{}\nfiles:\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.listing()
        )
    }

    /// `find`-like listing with modes.
    pub fn listing(&self) -> String {
        snapshot(&self.dir)
            .iter()
            .map(|(p, (_, mode))| format!("  {:o} {}", mode, p.display()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        #[allow(clippy::disallowed_methods)]
        std::fs::write(p, contents).unwrap();
    }

    /// Write a private key file with the mode PostgreSQL and libpq require of it (0600).
    pub fn write_key(&self, rel: &str, contents: impl AsRef<[u8]>) {
        self.write(rel, contents);
        std::fs::set_permissions(
            self.path(rel),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }

    /// Copy a file of the sandbox (a `.key` with `write_key`'s 0600).
    pub fn copy(&self, from: &str, to: &str) {
        let bytes = std::fs::read(self.path(from)).unwrap();
        if to.ends_with(".key") {
            self.write_key(to, bytes);
        } else {
            self.write(to, bytes);
        }
    }

    pub fn mode(&self, rel: &str) -> u32 {
        std::fs::metadata(self.path(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// CA directories `root` and `inter` (an intermediate issued by `root`).
    pub fn two_tier_ca(&self) {
        self.ok(&["init-ca", "--ca", "root"]);
        self.ok(&["init-ca", "--ca", "inter", "--parent", "root"]);
    }

    /// Give the whole sandbox to the postgres user (for files a server reads).
    pub fn chown_postgres(&self, rel: &str) {
        let st = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(self.path(rel))
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("sandbox kept for inspection: {}", self.dir.display());
        }
    }
}

/// Every file and directory below `dir` (relative path -> (contents, mode)), for
/// "byte-identical" and "no new files" checks. Directories have empty contents.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if m.is_dir() {
                out.insert(rel, (Vec::new(), m.mode() & 0o7777));
                walk(root, &p, out);
            } else {
                out.insert(
                    rel,
                    (std::fs::read(&p).unwrap_or_default(), m.mode() & 0o7777),
                );
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// Decode pgcert's --json output.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A throwaway PostgreSQL 15 server on 127.0.0.1, run as the `postgres` user, stopped on drop.
pub struct PgServer {
    pub data: PathBuf,
    pub port: u16,
    pub socket_dir: PathBuf,
    child: Option<std::process::Child>,
    pub log: PathBuf,
}

/// PostgreSQL's bin directory, from `pg_config --bindir` (Debian's pg_config may name the
/// newest client; initdb lives beside postgres in /usr/lib/postgresql/15/bin).
pub fn pg_bindir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    [
        from_pg_config,
        Some(PathBuf::from("/usr/lib/postgresql/15/bin")),
    ]
    .into_iter()
    .flatten()
    .find(|d| d.join("postgres").exists() && d.join("initdb").exists())
}

/// Whether a real PostgreSQL can be run here (root, postgres user, binaries).
pub fn postgres_available() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let user = Command::new("id")
        .arg("postgres")
        .output()
        .is_ok_and(|o| o.status.success());
    let ok = root && user && pg_bindir().is_some() && require("psql");
    if !ok {
        assert!(
            !in_ci(),
            "PostgreSQL 15 (run as root via runuser) is required in CI"
        );
        eprintln!(
            "SKIPPED: PostgreSQL server not available (need root, the postgres user and postgresql-15)"
        );
    }
    ok
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl PgServer {
    /// initdb a cluster in `sandbox/NAME` (owned by postgres, trust auth for the socket).
    pub fn init(sb: &Sandbox, name: &str) -> PgServer {
        let bindir = pg_bindir().expect("postgres binaries");
        let base = sb.path(name);
        std::fs::create_dir_all(&base).unwrap();
        let data = base.join("data");
        let socket_dir = base.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        sb.chown_postgres(name);
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bindir.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PgServer {
            log: base.join("log"),
            data,
            port: free_port(),
            socket_dir,
            child: None,
        }
    }

    /// A cluster in `sandbox/NAME` serving a certificate that CA directory `ca` issues for
    /// localhost (plus `extra` flags of `issue server`) straight into its data directory, with
    /// ssl = on and TLS connections from 127.0.0.1 trusted. Not started.
    pub fn serving(sb: &Sandbox, name: &str, ca: &str, extra: &[&str]) -> PgServer {
        let pg = PgServer::init(sb, name);
        let data = pg.data.display().to_string();
        let mut args = vec![
            "issue",
            "server",
            "--ca",
            ca,
            "--cn",
            "localhost",
            "--pgdata",
            &data,
        ];
        args.extend_from_slice(extra);
        sb.ok(&args);
        pg.conf("ssl = on");
        pg.hba("hostssl all all 127.0.0.1/32 trust");
        pg
    }

    /// A verify-full connection string for `host` with `root` as sslrootcert.
    pub fn verify_full(host: &str, root: &Path) -> String {
        format!(
            "host={host} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
            root.display()
        )
    }

    /// Append lines to postgresql.conf.
    pub fn conf(&self, lines: &str) {
        append(&self.data.join("postgresql.conf"), lines);
    }

    /// Replace pg_hba.conf: local trust for setup, plus the given lines.
    pub fn hba(&self, lines: &str) {
        #[allow(clippy::disallowed_methods)]
        std::fs::write(
            self.data.join("pg_hba.conf"),
            format!("local all all trust\n{lines}\n"),
        )
        .unwrap();
    }

    /// Start the server; returns Err(log) if it does not come up.
    pub fn try_start(&mut self) -> Result<(), String> {
        let bindir = pg_bindir().unwrap();
        let log = std::fs::File::create(&self.log).unwrap();
        let child = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bindir.join("postgres"))
            .arg("-D")
            .arg(&self.data)
            .args(["-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(format!("port={}", self.port))
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.socket_dir.display()
            ))
            .args(["-c", "fsync=off"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return Err(std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            let ready = Command::new(bindir.join("pg_isready"))
                .args(["-q", "-h"])
                .arg(&self.socket_dir)
                .arg("-p")
                .arg(self.port.to_string())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
        }
        Err(format!(
            "not ready after 10 s\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        ))
    }

    /// Start the server. A free port can be taken by a parallel test before postgres binds
    /// it, so a bind failure is retried on a new port.
    pub fn start(&mut self) {
        for _ in 0..3 {
            match self.try_start() {
                Ok(()) => return,
                Err(log)
                    if log.contains("could not bind")
                        || log.contains("could not create any TCP/IP sockets") =>
                {
                    self.port = free_port();
                }
                Err(log) => panic!("PostgreSQL did not start:\n{log}"),
            }
        }
        panic!("PostgreSQL did not start: no free port after 3 tries");
    }

    /// Run SQL over the Unix socket as postgres (setup: roles, etc.).
    pub fn sql(&self, sql: &str) {
        let out = Command::new("psql")
            .args([
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-h",
            ])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A query's result (unaligned, tuples only), over the Unix socket.
    pub fn query(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-tA", "-U", "postgres", "-d", "postgres", "-h"])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", sql])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A server whose data directory `sandbox/NAME/data` is made by someone else (a
    /// pg_basebackup standby): only the socket directory and a port are prepared.
    pub fn prepared(sb: &Sandbox, name: &str) -> PgServer {
        let base = sb.path(name);
        let socket_dir = base.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        sb.chown_postgres(name);
        PgServer {
            log: base.join("log"),
            data: base.join("data"),
            port: free_port(),
            socket_dir,
            child: None,
        }
    }

    /// The current value of a setting, over the Unix socket.
    pub fn setting(&self, name: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-tA", "-U", "postgres", "-d", "postgres", "-h"])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", &format!("show {name}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Reload the configuration and wait (up to 10 s) until `done()` says it took effect.
    pub fn reload_until(&self, done: impl Fn() -> bool) {
        self.sql("select pg_reload_conf()");
        for _ in 0..100 {
            if done() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the reloaded configuration did not take effect within 10 s");
    }

    /// psql over TCP with a connection string; returns (success, stdout+stderr).
    pub fn psql(&self, conninfo: &str, home: &Path) -> (bool, String) {
        let out = Command::new("psql")
            .arg("-X")
            .arg(format!("{conninfo} port={} connect_timeout=10", self.port))
            .args(["-tAc", "select current_user || ' ' || ssl from pg_stat_ssl join pg_stat_activity using (pid) where pid = pg_backend_pid()"])
            .env("HOME", home)
            .env_remove("PGSSLMODE")
            .env_remove("PGHOST")
            .env_remove("PGUSER")
            .env_remove("PGPORT")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM to runuser is passed on to postgres (smart shutdown)
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    #[allow(clippy::disallowed_methods)]
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{text}").unwrap();
}
