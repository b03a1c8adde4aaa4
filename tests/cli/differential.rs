//! `pgcert verify` against the real `openssl verify`, configured as libpq and the PostgreSQL
//! server configure OpenSSL: `-purpose sslserver|sslclient`, `-auth_level` (Debian's security
//! level 2 unless a case models another), `-crl_check_all` whenever CRLs are given, no
//! `-partial_chain`, `-attime` for the moment judged. A corpus of chains is minted with the
//! openssl CLI itself (`openssl ca` with fixed dates, extension files, raw DER extensions), one
//! family of OpenSSL rules at a time, each with accepted and refused variants. pgcert's verdict
//! must equal OpenSSL's on every case; the agreement table is printed.

#![allow(clippy::print_stderr, clippy::disallowed_methods)]

use std::collections::BTreeMap;

use crate::support::{Sandbox, require};

/// Certificates are valid from 2020 to 2045; `NOW` sits inside.
const START: &str = "20200101000000Z";
const END: &str = "20450101000000Z";

struct Lab {
    sb: Sandbox,
    now: i64,
}

#[derive(Clone)]
struct Case {
    family: &'static str,
    name: String,
    leaf: String,
    untrusted: Vec<String>,
    roots: Vec<String>,
    crls: Vec<String>,
    purpose: &'static str,
    at: i64,
    level: u8,
}

impl Lab {
    fn new() -> Lab {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Lab {
            sb: Sandbox::new(),
            now,
        }
    }

    fn p(&self, rel: &str) -> String {
        self.sb.path(rel).display().to_string()
    }

    fn ossl(&self, args: &[&str]) {
        self.sb.openssl_ok(args);
    }

    /// A key: ec256, ec384, ec521, rsa1024, rsa2048, rsapss, ed25519, ed448. Cached by name.
    fn key(&self, kind: &str) -> String {
        let path = format!("keys/{kind}.key");
        if self.sb.exists(&path) {
            return path;
        }
        let mut args = vec!["genpkey", "-out", &path];
        let bits;
        match kind {
            "ec256" | "ec384" | "ec521" => {
                args.extend(["-algorithm", "EC", "-pkeyopt"]);
                args.push(match kind {
                    "ec256" => "ec_paramgen_curve:P-256",
                    "ec384" => "ec_paramgen_curve:P-384",
                    _ => "ec_paramgen_curve:P-521",
                });
            }
            k if k.starts_with("rsapss") => {
                bits = format!("rsa_keygen_bits:{}", &k[6..]);
                args.extend(["-algorithm", "RSA-PSS", "-pkeyopt", &bits]);
            }
            k if k.starts_with("rsa") => {
                bits = format!("rsa_keygen_bits:{}", &k[3..]);
                args.extend(["-algorithm", "RSA", "-pkeyopt", &bits]);
            }
            "ed25519" => args.extend(["-algorithm", "ED25519"]),
            "ed448" => args.extend(["-algorithm", "ED448"]),
            other => panic!("unknown key kind {other}"),
        }
        std::fs::create_dir_all(self.sb.path("keys")).unwrap();
        self.ossl(&args);
        path
    }

    fn ca_config(&self, ca: &str, crlexts: &str) -> String {
        let dir = self.p(&format!("db/{ca}"));
        std::fs::create_dir_all(&dir).unwrap();
        let cnf = format!("{dir}/ca.cnf");
        if !std::path::Path::new(&cnf).exists() {
            std::fs::write(format!("{dir}/index.txt"), "").unwrap();
            std::fs::write(format!("{dir}/serial"), "1000\n").unwrap();
            std::fs::write(format!("{dir}/crlnumber"), "01\n").unwrap();
        }
        std::fs::write(
            &cnf,
            format!(
                "[ca]\ndefault_ca = d\n[d]\ndir = {dir}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir\n\
                 serial = $dir/serial\ncrlnumber = $dir/crlnumber\ndefault_md = sha256\npolicy = pol\n\
                 unique_subject = no\ncopy_extensions = none\n[pol]\ncommonName = optional\n\
                 [crlx]\n{crlexts}\n"
            ),
        )
        .unwrap();
        cnf
    }

    /// Mint `name.crt` for `subj` with key `key`, issued by `issuer` (None: self-signed), with
    /// the extension lines `ext`. `md` is the digest (or "default" for EdDSA); `sigopts` are
    /// passed as -sigopt.
    #[allow(clippy::too_many_arguments)]
    fn mint(
        &self,
        name: &str,
        subj: &str,
        key: &str,
        issuer: Option<&str>,
        ext: &str,
        md: &str,
        sigopts: &[&str],
        dates: (&str, &str),
    ) -> String {
        let crt = format!("{name}.crt");
        let csr = format!("csr/{name}.csr");
        std::fs::create_dir_all(self.sb.path("csr")).unwrap();
        self.ossl(&["req", "-new", "-key", key, "-subj", subj, "-out", &csr]);
        let extf = format!("csr/{name}.ext");
        self.sb.write(&extf, format!("[x]\n{ext}\n"));
        let ca_name = issuer.unwrap_or(name);
        let cnf = self.ca_config(ca_name, "");
        let mut args: Vec<String> = [
            "ca",
            "-batch",
            "-notext",
            "-preserveDN",
            "-config",
            &cnf,
            "-in",
            &csr,
            "-out",
            &crt,
            "-extfile",
            &extf,
            "-extensions",
            "x",
            "-startdate",
            dates.0,
            "-enddate",
            dates.1,
            "-md",
            md,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match issuer {
            None => args.extend(["-selfsign".into(), "-keyfile".into(), key.into()]),
            Some(i) => args.extend([
                "-cert".into(),
                format!("{i}.crt"),
                "-keyfile".into(),
                self.key_of(i),
            ]),
        }
        for s in sigopts {
            args.extend(["-sigopt".into(), s.to_string()]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ossl(&a);
        self.sb.write(&format!("keyof/{name}"), key);
        crt
    }

    fn key_of(&self, name: &str) -> String {
        self.sb.read(&format!("keyof/{name}"))
    }

    /// The usual: a certificate with `ext`, P-256 key, SHA-256.
    fn cert(&self, name: &str, cn: &str, issuer: Option<&str>, ext: &str) -> String {
        let key = self.key("ec256");
        self.mint(
            name,
            &format!("/CN={cn}"),
            &key,
            issuer,
            ext,
            "sha256",
            &[],
            (START, END),
        )
    }

    fn revoke(&self, ca: &str, cert: &str, reason: &str) {
        let cnf = self.ca_config(ca, "");
        let key = self.key_of(ca);
        let crt = format!("{ca}.crt");
        let mut args = vec![
            "ca", "-config", &cnf, "-revoke", cert, "-cert", &crt, "-keyfile", &key,
        ];
        if !reason.is_empty() {
            args.extend(["-crl_reason", reason]);
        }
        self.ossl(&args);
    }

    /// A CRL of `ca` as `out`, valid `hours`, with CRL extension lines `exts`.
    fn crl(&self, ca: &str, out: &str, hours: u32, exts: &str) -> String {
        let cnf = self.ca_config(ca, exts);
        let key = self.key_of(ca);
        let crt = format!("{ca}.crt");
        let h = hours.to_string();
        let mut args = vec![
            "ca",
            "-gencrl",
            "-config",
            &cnf,
            "-cert",
            &crt,
            "-keyfile",
            &key,
            "-out",
            out,
            "-crlhours",
            &h,
        ];
        if !exts.is_empty() {
            args.extend(["-crlexts", "crlx"]);
        }
        self.ossl(&args);
        out.to_string()
    }

    fn cat(&self, out: &str, files: &[String]) -> String {
        let mut s = String::new();
        for f in files {
            s.push_str(&self.sb.read(f));
        }
        self.sb.write(out, s);
        out.to_string()
    }

    fn openssl_verdict(&self, c: &Case) -> (bool, String) {
        let roots = self.cat(&format!("run/{}.roots", c.name), &c.roots);
        let at = c.at.to_string();
        let level = c.level.to_string();
        let mut args = vec![
            "verify",
            "-no-CApath",
            "-no-CAstore",
            "-purpose",
            c.purpose,
            "-auth_level",
            &level,
            "-attime",
            &at,
            "-CAfile",
            &roots,
        ];
        let unt;
        if !c.untrusted.is_empty() {
            unt = self.cat(&format!("run/{}.unt", c.name), &c.untrusted);
            args.extend(["-untrusted", &unt]);
        }
        let crls;
        if !c.crls.is_empty() {
            crls = self.cat(&format!("run/{}.crls", c.name), &c.crls);
            args.extend(["-CRLfile", &crls, "-crl_check_all"]);
        }
        args.push(&c.leaf);
        let out = self.sb.openssl(&args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text.trim().replace('\n', " | "))
    }

    fn pgcert_verdict(&self, c: &Case) -> (bool, String) {
        let roots = format!("run/{}.roots", c.name);
        let at = time::OffsetDateTime::from_unix_timestamp(c.at)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let level = c.level.to_string();
        let purpose = if c.purpose == "sslserver" {
            "server"
        } else {
            "client"
        };
        let mut args = vec![
            "verify",
            &c.leaf,
            "--root",
            &roots,
            "--purpose",
            purpose,
            "--at",
            &at,
            "--security-level",
            &level,
        ];
        let unt = format!("run/{}.unt", c.name);
        if !c.untrusted.is_empty() {
            args.extend(["--untrusted", &unt]);
        }
        let crls = format!("run/{}.crls", c.name);
        if !c.crls.is_empty() {
            args.extend(["--crl", &crls]);
        }
        let out = self.sb.pgcert(&args);
        let text = String::from_utf8_lossy(&out.stderr)
            .trim()
            .replace('\n', " | ");
        (out.status.success(), text)
    }
}

struct Corpus {
    cases: Vec<Case>,
    family: &'static str,
    now: i64,
}

impl Corpus {
    /// Add a case verified now at level 2, for both purposes unless `purpose` is given.
    fn add(
        &mut self,
        name: &str,
        leaf: &str,
        unt: &[&str],
        roots: &[&str],
        purposes: &[&'static str],
    ) {
        self.add_full(name, leaf, unt, roots, &[], purposes, 0, 2);
    }

    #[allow(clippy::too_many_arguments)]
    fn add_full(
        &mut self,
        name: &str,
        leaf: &str,
        unt: &[&str],
        roots: &[&str],
        crls: &[&str],
        purposes: &[&'static str],
        at: i64,
        level: u8,
    ) {
        // |at| under ten years of seconds is an offset from the moment the cases run (after
        // every CRL was made); anything larger is an absolute Unix time
        let _ = self.now;
        for p in purposes {
            self.cases.push(Case {
                family: self.family,
                name: format!("{}-{}-{}", self.family, name, p),
                leaf: leaf.to_string(),
                untrusted: unt.iter().map(|s| s.to_string()).collect(),
                roots: roots.iter().map(|s| s.to_string()).collect(),
                crls: crls.iter().map(|s| s.to_string()).collect(),
                purpose: p,
                at,
                level,
            });
        }
    }
}

const BOTH: &[&str] = &["sslserver", "sslclient"];
const SRV: &[&str] = &["sslserver"];
const CLI: &[&str] = &["sslclient"];
const CA: &str = "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid";
const LEAF: &str = "basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\nsubjectAltName = DNS:db.example.com";

fn build(lab: &Lab) -> Vec<Case> {
    let mut c = Corpus {
        cases: Vec::new(),
        family: "chain",
        now: lab.now,
    };
    let ca_ext = |extra: &str| format!("{CA}\n{extra}");
    let leaf_ext = |extra: &str| format!("{LEAF}\n{extra}");
    // ---- chain building, anchors, partial chains
    lab.cert("root", "Root", None, CA);
    lab.cert("inter", "Inter", Some("root"), CA);
    lab.cert(
        "leaf",
        "db.example.com",
        Some("inter"),
        &leaf_ext("extendedKeyUsage = serverAuth, clientAuth"),
    );
    lab.cert("other-root", "Other Root", None, CA);
    lab.cert(
        "self-leaf",
        "self.example.com",
        None,
        "basicConstraints = CA:FALSE\nsubjectAltName = DNS:self.example.com",
    );
    c.add("complete", "leaf.crt", &["inter.crt"], &["root.crt"], BOTH);
    c.add("missing-intermediate", "leaf.crt", &[], &["root.crt"], BOTH);
    c.add(
        "wrong-root",
        "leaf.crt",
        &["inter.crt"],
        &["other-root.crt"],
        BOTH,
    );
    c.add(
        "partial-chain-intermediate-as-root",
        "leaf.crt",
        &[],
        &["inter.crt"],
        BOTH,
    );
    c.add(
        "root-and-intermediate-in-trust-file",
        "leaf.crt",
        &[],
        &["inter.crt", "root.crt"],
        BOTH,
    );
    c.add(
        "two-roots-in-trust-file",
        "leaf.crt",
        &["inter.crt"],
        &["other-root.crt", "root.crt"],
        SRV,
    );
    c.add(
        "self-signed-trusted",
        "self-leaf.crt",
        &[],
        &["self-leaf.crt"],
        SRV,
    );
    c.add(
        "self-signed-untrusted",
        "self-leaf.crt",
        &[],
        &["root.crt"],
        SRV,
    );
    c.add(
        "leaf-as-its-own-root",
        "leaf.crt",
        &["inter.crt"],
        &["leaf.crt"],
        SRV,
    );
    c.add(
        "root-as-untrusted-only",
        "leaf.crt",
        &["inter.crt", "root.crt"],
        &["other-root.crt"],
        SRV,
    );

    // ---- purpose: EKU, keyUsage, nsCertType of the leaf
    c.family = "purpose";
    let purposes: &[(&str, &str)] = &[
        ("eku-server", "extendedKeyUsage = serverAuth"),
        ("eku-client", "extendedKeyUsage = clientAuth"),
        ("eku-both", "extendedKeyUsage = serverAuth, clientAuth"),
        ("eku-codesigning", "extendedKeyUsage = codeSigning"),
        ("eku-any", "extendedKeyUsage = anyExtendedKeyUsage"),
        ("eku-nssgc", "extendedKeyUsage = nsSGC"),
        ("eku-none", ""),
        ("ns-server", "nsCertType = server"),
        ("ns-client", "nsCertType = client"),
        ("ns-email", "nsCertType = email"),
    ];
    for (n, e) in purposes {
        lab.cert(
            &format!("p-{n}"),
            "db.example.com",
            Some("inter"),
            &leaf_ext(e),
        );
        c.add(
            n,
            &format!("p-{n}.crt"),
            &["inter.crt"],
            &["root.crt"],
            BOTH,
        );
    }
    let kus: &[(&str, &str)] = &[
        ("ku-digitalsignature", "digitalSignature"),
        ("ku-keyencipherment", "keyEncipherment"),
        ("ku-keyagreement", "keyAgreement"),
        ("ku-nonrepudiation", "nonRepudiation"),
        ("ku-keycertsign", "keyCertSign"),
        ("ku-dataencipherment", "dataEncipherment"),
    ];
    for (n, k) in kus {
        lab.cert(
            &format!("p-{n}"),
            "db.example.com",
            Some("inter"),
            &format!("basicConstraints = CA:FALSE\nkeyUsage = critical, {k}\nsubjectAltName = DNS:db.example.com"),
        );
        c.add(
            n,
            &format!("p-{n}.crt"),
            &["inter.crt"],
            &["root.crt"],
            BOTH,
        );
    }
    // EKU and nsCertType on the CAs above the leaf
    let ca_purposes: &[(&str, &str)] = &[
        ("inter-eku-server", "extendedKeyUsage = serverAuth"),
        ("inter-eku-client", "extendedKeyUsage = clientAuth"),
        ("inter-eku-any", "extendedKeyUsage = anyExtendedKeyUsage"),
        ("inter-ns-sslca", "nsCertType = sslCA"),
        ("inter-ns-objca", "nsCertType = objCA"),
    ];
    for (n, e) in ca_purposes {
        lab.cert(
            &format!("i-{n}"),
            &format!("Inter {n}"),
            Some("root"),
            &ca_ext(e),
        );
        lab.cert(
            &format!("l-{n}"),
            "db.example.com",
            Some(&format!("i-{n}")),
            LEAF,
        );
        c.add(
            n,
            &format!("l-{n}.crt"),
            &[&format!("i-{n}.crt")],
            &["root.crt"],
            BOTH,
        );
    }
    lab.cert(
        "root-eku-server",
        "Root EKU",
        None,
        &ca_ext("extendedKeyUsage = serverAuth"),
    );
    lab.cert(
        "l-root-eku",
        "db.example.com",
        Some("root-eku-server"),
        LEAF,
    );
    c.add(
        "root-eku-server",
        "l-root-eku.crt",
        &[],
        &["root-eku-server.crt"],
        BOTH,
    );
    lab.cert(
        "leaf-is-ca",
        "db.example.com",
        Some("inter"),
        "basicConstraints = CA:TRUE\nsubjectAltName = DNS:db.example.com",
    );
    c.add(
        "leaf-is-a-ca",
        "leaf-is-ca.crt",
        &["inter.crt"],
        &["root.crt"],
        BOTH,
    );

    // ---- critical extensions
    c.family = "critical";
    let crits: &[(&str, &str)] = &[
        (
            "unknown-critical",
            "1.3.6.1.4.1.99999.1 = critical,DER:05:00",
        ),
        ("unknown-noncritical", "1.3.6.1.4.1.99999.1 = DER:05:00"),
        (
            "critical-policies",
            "certificatePolicies = critical, 1.3.6.1.4.1.99999.7",
        ),
        (
            "critical-ian",
            "issuerAltName = critical, DNS:ca.example.com",
        ),
        (
            "critical-crldp",
            "crlDistributionPoints = critical, URI:http://crl.example.com/x.crl",
        ),
        (
            "critical-aia",
            "authorityInfoAccess = critical, OCSP;URI:http://ocsp.example.com",
        ),
    ];
    for (n, e) in crits {
        lab.cert(
            &format!("c-{n}"),
            "db.example.com",
            Some("inter"),
            &leaf_ext(e),
        );
        c.add(n, &format!("c-{n}.crt"), &["inter.crt"], &["root.crt"], SRV);
    }
    lab.cert("c-ski", "db.example.com", Some("inter"), "basicConstraints = CA:FALSE\nsubjectKeyIdentifier = critical, hash\nsubjectAltName = DNS:db.example.com");
    c.add(
        "critical-ski",
        "c-ski.crt",
        &["inter.crt"],
        &["root.crt"],
        SRV,
    );
    lab.cert(
        "i-crit",
        "Inter Crit",
        Some("root"),
        &ca_ext("1.3.6.1.4.1.99999.2 = critical,DER:05:00"),
    );
    lab.cert("l-i-crit", "db.example.com", Some("i-crit"), LEAF);
    c.add(
        "intermediate-unknown-critical",
        "l-i-crit.crt",
        &["i-crit.crt"],
        &["root.crt"],
        SRV,
    );
    lab.cert(
        "root-crit",
        "Root Crit",
        None,
        &ca_ext("1.3.6.1.4.1.99999.3 = critical,DER:05:00"),
    );
    lab.cert("l-root-crit", "db.example.com", Some("root-crit"), LEAF);
    c.add(
        "root-unknown-critical",
        "l-root-crit.crt",
        &[],
        &["root-crit.crt"],
        SRV,
    );

    // ---- malformed and duplicate extensions
    c.family = "malformed";
    let bad: &[(&str, &str)] = &[
        (
            "duplicate-san",
            "subjectAltName = DNS:db.example.com\n2.5.29.17 = DER:30:10:82:0e:64:62:2e:65:78:61:6d:70:6c:65:2e:63:6f:6d",
        ),
        ("truncated-san", "2.5.29.17 = DER:30:05:82:03:61:62"),
        (
            "san-ip-5-bytes",
            "2.5.29.17 = DER:30:07:87:05:0a:00:00:01:02",
        ),
        (
            "duplicate-unknown-noncritical",
            "1.3.6.1.4.1.99999.4 = DER:05:00\n1.3.6.1.4.1.99999.4 = DER:05:00",
        ),
        ("malformed-eku", "2.5.29.37 = DER:30:03:06:01"),
    ];
    for (n, e) in bad {
        lab.cert(
            &format!("m-{n}"),
            "db.example.com",
            Some("inter"),
            &format!("basicConstraints = CA:FALSE\n{e}"),
        );
        c.add(n, &format!("m-{n}.crt"), &["inter.crt"], &["root.crt"], SRV);
    }
    lab.cert(
        "i-dupbc",
        "Inter DupBC",
        Some("root"),
        &ca_ext("2.5.29.19 = DER:30:03:01:01:ff"),
    );
    lab.cert("l-i-dupbc", "db.example.com", Some("i-dupbc"), LEAF);
    c.add(
        "intermediate-duplicate-bc",
        "l-i-dupbc.crt",
        &["i-dupbc.crt"],
        &["root.crt"],
        SRV,
    );

    // ---- basicConstraints, keyUsage of issuers, pathlen (with self-issued certificates)
    c.family = "issuers";
    lab.cert(
        "i-nobc",
        "Inter NoBC",
        Some("root"),
        "keyUsage = keyCertSign, cRLSign",
    );
    lab.cert("l-i-nobc", "db.example.com", Some("i-nobc"), LEAF);
    c.add(
        "intermediate-without-bc",
        "l-i-nobc.crt",
        &["i-nobc.crt"],
        &["root.crt"],
        SRV,
    );
    lab.cert(
        "i-cafalse",
        "Inter CA False",
        Some("root"),
        "basicConstraints = CA:FALSE",
    );
    lab.cert("l-i-cafalse", "db.example.com", Some("i-cafalse"), LEAF);
    c.add(
        "intermediate-ca-false",
        "l-i-cafalse.crt",
        &["i-cafalse.crt"],
        &["root.crt"],
        SRV,
    );
    lab.cert(
        "i-noks",
        "Inter No KCS",
        Some("root"),
        "basicConstraints = critical, CA:TRUE\nkeyUsage = digitalSignature, cRLSign",
    );
    lab.cert("l-i-noks", "db.example.com", Some("i-noks"), LEAF);
    c.add(
        "intermediate-without-keycertsign",
        "l-i-noks.crt",
        &["i-noks.crt"],
        &["root.crt"],
        SRV,
    );
    lab.cert(
        "i-nobc-nothing",
        "Inter Bare",
        Some("root"),
        "subjectKeyIdentifier = hash",
    );
    lab.cert("l-i-bare", "db.example.com", Some("i-nobc-nothing"), LEAF);
    c.add(
        "intermediate-no-extensions",
        "l-i-bare.crt",
        &["i-nobc-nothing.crt"],
        &["root.crt"],
        SRV,
    );
    lab.cert(
        "root-p0",
        "Root P0",
        None,
        &ca_ext("basicConstraints = critical, CA:TRUE, pathlen:0"),
    );
    lab.cert("i-p0", "Inter under P0", Some("root-p0"), CA);
    lab.cert("l-p0", "db.example.com", Some("i-p0"), LEAF);
    lab.cert("l-p0-direct", "db.example.com", Some("root-p0"), LEAF);
    c.add(
        "root-pathlen0-with-intermediate",
        "l-p0.crt",
        &["i-p0.crt"],
        &["root-p0.crt"],
        SRV,
    );
    c.add(
        "root-pathlen0-direct-leaf",
        "l-p0-direct.crt",
        &[],
        &["root-p0.crt"],
        SRV,
    );
    lab.cert(
        "root-p1",
        "Root P1",
        None,
        &ca_ext("basicConstraints = critical, CA:TRUE, pathlen:1"),
    );
    lab.cert("i-p1a", "Inter P1 A", Some("root-p1"), CA);
    lab.cert("i-p1b", "Inter P1 B", Some("i-p1a"), CA);
    lab.cert("l-p1-one", "db.example.com", Some("i-p1a"), LEAF);
    lab.cert("l-p1-two", "db.example.com", Some("i-p1b"), LEAF);
    c.add(
        "root-pathlen1-one-intermediate",
        "l-p1-one.crt",
        &["i-p1a.crt"],
        &["root-p1.crt"],
        SRV,
    );
    c.add(
        "root-pathlen1-two-intermediates",
        "l-p1-two.crt",
        &["i-p1a.crt", "i-p1b.crt"],
        &["root-p1.crt"],
        SRV,
    );
    lab.cert(
        "i-p0b",
        "Inter P0",
        Some("root"),
        &ca_ext("basicConstraints = critical, CA:TRUE, pathlen:0"),
    );
    lab.cert("i-under-p0", "Inter under Inter P0", Some("i-p0b"), CA);
    lab.cert("l-under-p0", "db.example.com", Some("i-under-p0"), LEAF);
    lab.cert("l-direct-p0", "db.example.com", Some("i-p0b"), LEAF);
    c.add(
        "intermediate-pathlen0-leaf",
        "l-direct-p0.crt",
        &["i-p0b.crt"],
        &["root.crt"],
        SRV,
    );
    c.add(
        "intermediate-pathlen0-sub-ca",
        "l-under-p0.crt",
        &["i-p0b.crt", "i-under-p0.crt"],
        &["root.crt"],
        SRV,
    );
    // key rollover: the old root key certifies the new key under the same name (self-issued)
    let rk_old = lab.key("ec384");
    lab.mint(
        "ro-old",
        "/CN=Rollover Root",
        &rk_old,
        None,
        &ca_ext("basicConstraints = critical, CA:TRUE, pathlen:0"),
        "sha256",
        &[],
        (START, END),
    );
    let rk_new = lab.key("ec256");
    lab.mint(
        "ro-new",
        "/CN=Rollover Root",
        &rk_new,
        Some("ro-old"),
        &ca_ext("basicConstraints = critical, CA:TRUE, pathlen:0"),
        "sha256",
        &[],
        (START, END),
    );
    lab.cert("l-ro", "db.example.com", Some("ro-new"), LEAF);
    c.add(
        "self-issued-rollover-under-pathlen0",
        "l-ro.crt",
        &["ro-new.crt"],
        &["ro-old.crt"],
        SRV,
    );
    // a v1 root (no extensions) and a v1 intermediate
    lab.ossl(&[
        "req",
        "-new",
        "-key",
        &lab.key("ec256"),
        "-subj",
        "/CN=V1 Root",
        "-out",
        "csr/v1root.csr",
    ]);
    lab.ossl(&[
        "x509",
        "-req",
        "-in",
        "csr/v1root.csr",
        "-signkey",
        &lab.key("ec256"),
        "-days",
        "7300",
        "-set_serial",
        "7",
        "-out",
        "v1root.crt",
    ]);
    lab.sb.write("keyof/v1root", lab.key("ec256"));
    lab.cert(
        "l-v1root",
        "db.example.com",
        Some("v1root"),
        "basicConstraints = CA:FALSE\nsubjectAltName = DNS:db.example.com",
    );
    c.add("v1-root", "l-v1root.crt", &[], &["v1root.crt"], SRV);
    lab.cert(
        "root-ku-only",
        "Root KU only",
        None,
        "keyUsage = keyCertSign, cRLSign\nsubjectKeyIdentifier = hash",
    );
    lab.cert("l-root-ku", "db.example.com", Some("root-ku-only"), LEAF);
    c.add(
        "root-with-keyusage-no-bc",
        "l-root-ku.crt",
        &[],
        &["root-ku-only.crt"],
        SRV,
    );

    // ---- name constraints
    c.family = "names";
    let ncs: &[(&str, &str, &str, &str)] = &[
        // (case, constraint, leaf CN, leaf SAN line)
        (
            "dns-permitted-in",
            "permitted;DNS:example.com",
            "x",
            "subjectAltName = DNS:db.example.com",
        ),
        (
            "dns-permitted-out",
            "permitted;DNS:example.com",
            "x",
            "subjectAltName = DNS:db.evil.com",
        ),
        (
            "dns-permitted-suffix-trick",
            "permitted;DNS:example.com",
            "x",
            "subjectAltName = DNS:badexample.com",
        ),
        (
            "dns-dot-permitted-apex",
            "permitted;DNS:.example.com",
            "x",
            "subjectAltName = DNS:example.com",
        ),
        (
            "dns-excluded-in",
            "excluded;DNS:secret.example.com",
            "x",
            "subjectAltName = DNS:db.secret.example.com",
        ),
        (
            "dns-excluded-out",
            "excluded;DNS:secret.example.com",
            "x",
            "subjectAltName = DNS:db.example.com",
        ),
        (
            "cn-host-in",
            "permitted;DNS:example.com",
            "db.example.com",
            "",
        ),
        (
            "cn-host-out",
            "permitted;DNS:example.com",
            "db.evil.com",
            "",
        ),
        ("cn-not-a-host", "permitted;DNS:example.com", "alice", ""),
        (
            "cn-ignored-with-dns-san",
            "permitted;DNS:example.com",
            "db.evil.com",
            "subjectAltName = DNS:db.example.com",
        ),
        (
            "cn-checked-with-ip-san-only",
            "permitted;DNS:example.com",
            "db.evil.com",
            "subjectAltName = IP:10.0.0.1",
        ),
        (
            "ip-permitted-in",
            "permitted;IP:10.0.0.0/255.0.0.0",
            "x",
            "subjectAltName = IP:10.1.2.3",
        ),
        (
            "ip-permitted-out",
            "permitted;IP:10.0.0.0/255.0.0.0",
            "x",
            "subjectAltName = IP:192.168.1.1",
        ),
        (
            "ip-excluded-in",
            "excluded;IP:192.168.0.0/255.255.0.0",
            "x",
            "subjectAltName = IP:192.168.1.1",
        ),
        (
            "ip-v4-constraint-v6-name",
            "permitted;IP:10.0.0.0/255.0.0.0",
            "x",
            "subjectAltName = IP:2001:db8::1",
        ),
        (
            "ip-v6-permitted-in",
            "permitted;IP:2001:db8::/ffff:ffff::",
            "x",
            "subjectAltName = IP:2001:db8::1",
        ),
        (
            "dns-constraint-ip-name",
            "permitted;DNS:example.com",
            "x",
            "subjectAltName = IP:10.0.0.1",
        ),
        (
            "email-permitted-in",
            "permitted;email:example.com",
            "x",
            "subjectAltName = email:dba@example.com",
        ),
        (
            "email-permitted-out",
            "permitted;email:example.com",
            "x",
            "subjectAltName = email:dba@evil.com",
        ),
        (
            "email-mailbox-in",
            "permitted;email:dba@example.com",
            "x",
            "subjectAltName = email:dba@example.com",
        ),
        (
            "email-mailbox-out",
            "permitted;email:dba@example.com",
            "x",
            "subjectAltName = email:other@example.com",
        ),
        (
            "email-dot-domain",
            "permitted;email:.example.com",
            "x",
            "subjectAltName = email:dba@mail.example.com",
        ),
        ("dirname-permitted-in", "permitted;dirName:good_dn", "x", ""),
        ("dirname-permitted-out", "permitted;dirName:bad_dn", "x", ""),
        ("dirname-excluded-in", "excluded;dirName:good_dn", "x", ""),
        (
            "uri-permitted-in",
            "permitted;URI:.example.com",
            "x",
            "subjectAltName = URI:https://db.example.com/x",
        ),
        (
            "uri-permitted-out",
            "permitted;URI:.example.com",
            "x",
            "subjectAltName = URI:https://db.evil.com/x",
        ),
    ];
    for (n, nc, cn, san) in ncs {
        let ca = format!("nc-{n}");
        lab.cert(
            &ca,
            &format!("NC {n}"),
            Some("root"),
            &format!(
                "{CA}\nnameConstraints = critical, {nc}\n[good_dn]\nO = Good\n[bad_dn]\nO = Bad"
            ),
        );
        let key = lab.key("ec256");
        let subj = format!("/O=Good/CN={cn}");
        lab.mint(
            &format!("l-{ca}"),
            &subj,
            &key,
            Some(&ca),
            &format!("basicConstraints = CA:FALSE\n{san}"),
            "sha256",
            &[],
            (START, END),
        );
        c.add(
            n,
            &format!("l-{ca}.crt"),
            &[&format!("{ca}.crt")],
            &["root.crt"],
            SRV,
        );
    }
    // the constraint sits on the root; a self-issued intermediate is not checked against it
    lab.cert(
        "root-nc",
        "Root NC",
        None,
        &ca_ext("nameConstraints = critical, permitted;DNS:example.com"),
    );
    lab.cert("i-root-nc", "Inter of Root NC", Some("root-nc"), CA);
    lab.cert(
        "l-root-nc-out",
        "x",
        Some("i-root-nc"),
        "basicConstraints = CA:FALSE\nsubjectAltName = DNS:db.evil.com",
    );
    lab.cert(
        "l-root-nc-in",
        "x",
        Some("i-root-nc"),
        "basicConstraints = CA:FALSE\nsubjectAltName = DNS:db.example.com",
    );
    c.add(
        "root-constraint-two-levels-out",
        "l-root-nc-out.crt",
        &["i-root-nc.crt"],
        &["root-nc.crt"],
        SRV,
    );
    c.add(
        "root-constraint-two-levels-in",
        "l-root-nc-in.crt",
        &["i-root-nc.crt"],
        &["root-nc.crt"],
        SRV,
    );
    // emailAddress in the subject is checked against email constraints
    lab.cert(
        "nc-subj-email",
        "NC subject email",
        Some("root"),
        &ca_ext("nameConstraints = critical, permitted;email:example.com"),
    );
    let k = lab.key("ec256");
    lab.mint(
        "l-subj-email-out",
        "/CN=x/emailAddress=dba@evil.com",
        &k,
        Some("nc-subj-email"),
        "basicConstraints = CA:FALSE",
        "sha256",
        &[],
        (START, END),
    );
    lab.mint(
        "l-subj-email-in",
        "/CN=x/emailAddress=dba@example.com",
        &k,
        Some("nc-subj-email"),
        "basicConstraints = CA:FALSE",
        "sha256",
        &[],
        (START, END),
    );
    c.add(
        "subject-email-out",
        "l-subj-email-out.crt",
        &["nc-subj-email.crt"],
        &["root.crt"],
        SRV,
    );
    c.add(
        "subject-email-in",
        "l-subj-email-in.crt",
        &["nc-subj-email.crt"],
        &["root.crt"],
        SRV,
    );

    // ---- security level: weak keys and digests
    c.family = "security";
    let rsa1024 = lab.key("rsa1024");
    lab.mint(
        "l-rsa1024",
        "/CN=db.example.com",
        &rsa1024,
        Some("inter"),
        LEAF,
        "sha256",
        &[],
        (START, END),
    );
    for level in [0u8, 1, 2, 3] {
        c.add_full(
            &format!("leaf-rsa1024-level{level}"),
            "l-rsa1024.crt",
            &["inter.crt"],
            &["root.crt"],
            &[],
            SRV,
            0,
            level,
        );
    }
    lab.mint(
        "i-rsa1024",
        "/CN=Inter RSA1024",
        &rsa1024,
        Some("root"),
        CA,
        "sha256",
        &[],
        (START, END),
    );
    lab.cert("l-i-rsa1024", "db.example.com", Some("i-rsa1024"), LEAF);
    for level in [1u8, 2] {
        c.add_full(
            &format!("intermediate-rsa1024-level{level}"),
            "l-i-rsa1024.crt",
            &["i-rsa1024.crt"],
            &["root.crt"],
            &[],
            SRV,
            0,
            level,
        );
    }
    lab.mint(
        "root-rsa1024",
        "/CN=Root RSA1024",
        &rsa1024,
        None,
        CA,
        "sha256",
        &[],
        (START, END),
    );
    lab.cert(
        "l-root-rsa1024",
        "db.example.com",
        Some("root-rsa1024"),
        LEAF,
    );
    for level in [1u8, 2] {
        c.add_full(
            &format!("root-rsa1024-level{level}"),
            "l-root-rsa1024.crt",
            &[],
            &["root-rsa1024.crt"],
            &[],
            SRV,
            0,
            level,
        );
    }
    let k = lab.key("ec256");
    lab.mint(
        "l-sha1",
        "/CN=db.example.com",
        &k,
        Some("inter"),
        LEAF,
        "sha1",
        &[],
        (START, END),
    );
    for level in [0u8, 1, 2] {
        c.add_full(
            &format!("leaf-sha1-level{level}"),
            "l-sha1.crt",
            &["inter.crt"],
            &["root.crt"],
            &[],
            SRV,
            0,
            level,
        );
    }
    lab.mint(
        "root-sha1",
        "/CN=Root SHA1",
        &k,
        None,
        CA,
        "sha1",
        &[],
        (START, END),
    );
    lab.cert("l-root-sha1", "db.example.com", Some("root-sha1"), LEAF);
    c.add(
        "root-self-signature-sha1",
        "l-root-sha1.crt",
        &[],
        &["root-sha1.crt"],
        SRV,
    );
    let rsa2048 = lab.key("rsa2048");
    lab.mint(
        "l-rsa2048",
        "/CN=db.example.com",
        &rsa2048,
        Some("inter"),
        LEAF,
        "sha256",
        &[],
        (START, END),
    );
    for level in [2u8, 3] {
        c.add_full(
            &format!("leaf-rsa2048-level{level}"),
            "l-rsa2048.crt",
            &["inter.crt"],
            &["root.crt"],
            &[],
            SRV,
            0,
            level,
        );
    }

    // ---- signature algorithms
    c.family = "signature";
    let algs: &[(&str, &str, &str, &[&str])] = &[
        ("p256-sha512", "ec256", "sha512", &[]),
        ("p384-sha384", "ec384", "sha384", &[]),
        ("p521-sha512", "ec521", "sha512", &[]),
        ("rsa2048-sha256", "rsa2048", "sha256", &[]),
        ("rsa2048-sha384", "rsa2048", "sha384", &[]),
        (
            "rsa2048-pss-sha256",
            "rsa2048",
            "sha256",
            &["rsa_padding_mode:pss", "rsa_pss_saltlen:digest"],
        ),
        (
            "rsa2048-pss-saltmax",
            "rsa2048",
            "sha256",
            &["rsa_padding_mode:pss", "rsa_pss_saltlen:max"],
        ),
        ("rsapss-key", "rsapss2048", "sha256", &[]),
        ("ed25519", "ed25519", "default", &[]),
        ("ed448", "ed448", "default", &[]),
    ];
    for (n, kind, md, opts) in algs {
        let k = lab.key(kind);
        lab.mint(
            &format!("s-root-{n}"),
            &format!("/CN=Root {n}"),
            &k,
            None,
            CA,
            md,
            opts,
            (START, END),
        );
        lab.mint(
            &format!("s-inter-{n}"),
            &format!("/CN=Inter {n}"),
            &k,
            Some(&format!("s-root-{n}")),
            CA,
            md,
            opts,
            (START, END),
        );
        let lk = lab.key("ec256");
        lab.mint(
            &format!("s-leaf-{n}"),
            "/CN=db.example.com",
            &lk,
            Some(&format!("s-inter-{n}")),
            LEAF,
            md,
            opts,
            (START, END),
        );
        c.add(
            n,
            &format!("s-leaf-{n}.crt"),
            &[&format!("s-inter-{n}.crt")],
            &[&format!("s-root-{n}.crt")],
            SRV,
        );
    }
    // a tampered signature, and a forged issuer of the same name
    let der = {
        let pem = lab.sb.read("leaf.crt");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        b64
    };
    let mut bytes = base64_decode(&der);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    lab.sb.write("tampered.der", &bytes);
    lab.ossl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        "tampered.der",
        "-out",
        "tampered.crt",
    ]);
    c.add(
        "tampered-signature",
        "tampered.crt",
        &["inter.crt"],
        &["root.crt"],
        SRV,
    );
    let k = lab.key("ec384");
    lab.mint(
        "forged-inter",
        "/CN=Inter",
        &k,
        Some("root"),
        "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign",
        "sha256",
        &[],
        (START, END),
    );
    c.add(
        "same-name-other-key-intermediate",
        "leaf.crt",
        &["forged-inter.crt"],
        &["root.crt"],
        SRV,
    );

    // ---- validity
    c.family = "validity";
    let k = lab.key("ec256");
    lab.mint(
        "l-short",
        "/CN=db.example.com",
        &k,
        Some("inter"),
        LEAF,
        "sha256",
        &[],
        ("20300101000000Z", "20310101000000Z"),
    );
    let t = |y: i32| {
        time::Date::from_calendar_date(y, time::Month::June, 1)
            .unwrap()
            .midnight()
            .assume_utc()
            .unix_timestamp()
    };
    c.add_full(
        "before-notbefore",
        "l-short.crt",
        &["inter.crt"],
        &["root.crt"],
        &[],
        SRV,
        t(2029),
        2,
    );
    c.add_full(
        "inside",
        "l-short.crt",
        &["inter.crt"],
        &["root.crt"],
        &[],
        SRV,
        t(2030),
        2,
    );
    c.add_full(
        "after-notafter",
        "l-short.crt",
        &["inter.crt"],
        &["root.crt"],
        &[],
        SRV,
        t(2031),
        2,
    );
    c.add_full(
        "exactly-notafter",
        "l-short.crt",
        &["inter.crt"],
        &["root.crt"],
        &[],
        SRV,
        time::Date::from_calendar_date(2031, time::Month::January, 1)
            .unwrap()
            .midnight()
            .assume_utc()
            .unix_timestamp(),
        2,
    );
    c.add_full(
        "exactly-notbefore",
        "l-short.crt",
        &["inter.crt"],
        &["root.crt"],
        &[],
        SRV,
        time::Date::from_calendar_date(2030, time::Month::January, 1)
            .unwrap()
            .midnight()
            .assume_utc()
            .unix_timestamp(),
        2,
    );
    lab.mint(
        "i-short",
        "/CN=Inter Short",
        &k,
        Some("root"),
        CA,
        "sha256",
        &[],
        ("20200101000000Z", "20260101000000Z"),
    );
    lab.cert("l-i-short", "db.example.com", Some("i-short"), LEAF);
    c.add(
        "expired-intermediate",
        "l-i-short.crt",
        &["i-short.crt"],
        &["root.crt"],
        SRV,
    );
    c.add_full(
        "whole-chain-after-2045",
        "leaf.crt",
        &["inter.crt"],
        &["root.crt"],
        &[],
        SRV,
        t(2046),
        2,
    );
    // two intermediates of one name and key, one expired: the valid one is chosen
    lab.mint(
        "i-old",
        "/CN=Inter",
        &lab.key_of("inter"),
        Some("root"),
        CA,
        "sha256",
        &[],
        ("20200101000000Z", "20250101000000Z"),
    );
    c.add(
        "expired-and-current-intermediate",
        "leaf.crt",
        &["i-old.crt", "inter.crt"],
        &["root.crt"],
        SRV,
    );

    // ---- CRLs (CRL_CHECK_ALL)
    c.family = "crl";
    lab.cert("croot", "CRL Root", None, CA);
    lab.cert("cinter", "CRL Inter", Some("croot"), CA);
    lab.cert(
        "cleaf",
        "db.example.com",
        Some("cinter"),
        &leaf_ext("extendedKeyUsage = clientAuth"),
    );
    lab.cert(
        "cleaf-revoked",
        "alice",
        Some("cinter"),
        &leaf_ext("extendedKeyUsage = clientAuth"),
    );
    lab.cert(
        "cleaf-removed",
        "bob",
        Some("cinter"),
        &leaf_ext("extendedKeyUsage = clientAuth"),
    );
    lab.revoke("cinter", "cleaf-revoked.crt", "keyCompromise");
    lab.revoke("cinter", "cleaf-removed.crt", "removeFromCRL");
    let root_crl = lab.crl("croot", "croot.crl", 24 * 30, "");
    let inter_crl = lab.crl("cinter", "cinter.crl", 24 * 30, "");
    let short_crl = lab.crl("cinter", "cinter-short.crl", 1, "");
    let crit_crl = lab.crl(
        "cinter",
        "cinter-crit.crl",
        24 * 30,
        "1.3.6.1.4.1.99999.5 = critical,DER:05:00",
    );
    let noncrit_crl = lab.crl(
        "cinter",
        "cinter-noncrit.crl",
        24 * 30,
        "1.3.6.1.4.1.99999.5 = DER:05:00",
    );
    let now = 0;
    let both = [root_crl.as_str(), inter_crl.as_str()];
    c.add_full(
        "all-crls-current",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &both,
        CLI,
        now,
        2,
    );
    c.add_full(
        "only-intermediate-crl",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &[&inter_crl],
        CLI,
        now,
        2,
    );
    c.add_full(
        "only-root-crl",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &[&root_crl],
        CLI,
        now,
        2,
    );
    c.add_full(
        "leaf-revoked",
        "cleaf-revoked.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &both,
        CLI,
        now,
        2,
    );
    c.add_full(
        "leaf-remove-from-crl",
        "cleaf-removed.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &both,
        CLI,
        now,
        2,
    );
    c.add_full(
        "crl-expired",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &[&root_crl, &short_crl],
        CLI,
        now + 2 * 3600,
        2,
    );
    c.add_full(
        "crl-not-yet-valid",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &both,
        CLI,
        now - 2 * 86400,
        2,
    );
    c.add_full(
        "crl-critical-extension",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &[&root_crl, &crit_crl],
        CLI,
        now,
        2,
    );
    c.add_full(
        "crl-noncritical-extension",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &[&root_crl, &noncrit_crl],
        CLI,
        now,
        2,
    );
    c.add_full(
        "expired-and-current-crl",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &[&root_crl, &short_crl, &inter_crl],
        CLI,
        now + 2 * 3600,
        2,
    );
    // the intermediate revoked by the root
    lab.cert("croot2", "CRL Root 2", None, CA);
    lab.cert("cinter2", "CRL Inter 2", Some("croot2"), CA);
    lab.cert("cleaf2", "carol", Some("cinter2"), LEAF);
    lab.revoke("croot2", "cinter2.crt", "");
    let r2 = lab.crl("croot2", "croot2.crl", 24, "");
    let i2 = lab.crl("cinter2", "cinter2.crl", 24, "");
    c.add_full(
        "intermediate-revoked-by-root",
        "cleaf2.crt",
        &["cinter2.crt"],
        &["croot2.crt"],
        &[&r2, &i2],
        CLI,
        now,
        2,
    );
    c.add_full(
        "intermediate-revoked-only-its-crl-given",
        "cleaf2.crt",
        &["cinter2.crt"],
        &["croot2.crt"],
        &[&i2],
        CLI,
        now,
        2,
    );
    // a CRL signer whose keyUsage lacks cRLSign
    lab.cert("cinter3", "CRL Inter 3", Some("croot"), "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid");
    lab.cert("cleaf3", "dave", Some("cinter3"), LEAF);
    let i3 = lab.crl("cinter3", "cinter3.crl", 24, "");
    c.add_full(
        "crl-issuer-without-crlsign",
        "cleaf3.crt",
        &["cinter3.crt"],
        &["croot.crt"],
        &[&root_crl, &i3],
        CLI,
        now,
        2,
    );
    // a CRL of the right name from another key
    let kf = lab.key("ec384");
    lab.mint(
        "cfake",
        "/CN=CRL Inter",
        &kf,
        Some("croot"),
        CA,
        "sha256",
        &[],
        (START, END),
    );
    let fake = lab.crl("cfake", "cfake.crl", 24, "");
    c.add_full(
        "crl-from-same-name-other-key",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &[&root_crl, &fake],
        CLI,
        now,
        2,
    );
    // the self-signed leaf with its own CRL
    c.add_full(
        "no-crl-for-root",
        "cleaf.crt",
        &["cinter.crt"],
        &["croot.crt"],
        &[&inter_crl, &i3],
        CLI,
        now,
        2,
    );

    c.cases
}

fn base64_decode(s: &str) -> Vec<u8> {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for ch in s.bytes().filter(|&c| c != b'=') {
        let v = T.iter().position(|&t| t == ch).expect("base64") as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn verdicts_equal_openssl_verify_as_libpq_and_the_server_configure_it() {
    if !require("openssl") {
        return;
    }
    let lab = Lab::new();
    std::fs::create_dir_all(lab.sb.path("run")).unwrap();
    let mut cases = build(&lab);
    let run_now = time::OffsetDateTime::now_utc().unix_timestamp() + 1;
    for c in &mut cases {
        if c.at.abs() < 10 * 365 * 86400 {
            c.at += run_now;
        }
    }
    let mut table: BTreeMap<&str, (usize, usize, usize, usize)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for c in &cases {
        let (o_ok, o_text) = lab.openssl_verdict(c);
        let (p_ok, p_text) = lab.pgcert_verdict(c);
        if std::env::var_os("PGCERT_DIFF_VERBOSE").is_some() {
            eprintln!(
                "{}: openssl {o_ok} ({o_text}) | pgcert {p_ok} ({p_text})",
                c.name
            );
        }
        let e = table.entry(c.family).or_default();
        if o_ok == p_ok {
            e.0 += 1;
            if o_ok {
                e.2 += 1;
            } else {
                e.3 += 1;
            }
        } else {
            e.1 += 1;
            disagreements.push(format!(
                "{}: openssl {} ({o_text}); pgcert {} ({p_text})",
                c.name,
                if o_ok { "accepts" } else { "refuses" },
                if p_ok { "accepts" } else { "refuses" }
            ));
        }
    }
    let mut report = format!(
        "{:<12} {:>6} {:>9} {:>9} {:>8}\n",
        "family", "agree", "disagree", "accepted", "refused"
    );
    let mut total = (0, 0, 0, 0);
    for (f, (a, d, acc, rej)) in &table {
        report.push_str(&format!("{f:<12} {a:>6} {d:>9} {acc:>9} {rej:>8}\n"));
        total = (total.0 + a, total.1 + d, total.2 + acc, total.3 + rej);
    }
    report.push_str(&format!(
        "{:<12} {:>6} {:>9} {:>9} {:>8}\n",
        "total", total.0, total.1, total.2, total.3
    ));
    eprintln!(
        "pgcert verify vs openssl verify ({} cases):\n{report}",
        cases.len()
    );
    for d in &disagreements {
        eprintln!("DISAGREE {d}");
    }
    assert!(
        cases.len() >= 150,
        "the corpus has only {} cases",
        cases.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
