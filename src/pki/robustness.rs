//! Hostile input must give an error, never a panic. These tests feed every parser pgcert has
//! with real objects that have been bit-flipped, truncated and spliced, from a fixed-seed
//! generator so a failure is reproducible. (Coverage-guided fuzzing is later work; this is the
//! cheap net that runs on every `cargo test`; `PGCERT_ROBUSTNESS_ITERS=20000 cargo test --release
//! robustness` goes deeper.)

#[cfg(test)]
mod tests {
    use crate::ca::index::IndexEntry;
    use crate::pki::csr::{Csr, make_csr};
    use crate::pki::describe::{cert_view, crl_view, csr_view};
    use crate::pki::encoding::{blocks, to_pem};
    use crate::pki::hash::cert_subject_hash;
    use crate::pki::inspect::CertInfo;
    use crate::pki::issue::{CaSigner, CertSpec, Validity, issue, self_signed};
    use crate::pki::key::{KeyType, PrivateKey};
    use crate::pki::name::{San, Subject};
    use crate::pki::object::read_objects;
    use crate::pki::profile::Profile;
    use crate::pki::serial::Serial;
    use crate::postgres::cluster::parse_conf;
    use crate::postgres::rules::check_host;

    /// xorshift64*: deterministic, dependency-free.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        match rng.below(5) {
            0 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
            }
            1 => v.truncate(rng.below(v.len())),
            2 => {
                let i = rng.below(v.len());
                v[i] = [0x00, 0x80, 0xff, 0x30, 0x81, 0x82][rng.below(6)];
            }
            3 => {
                let (a, b) = (rng.below(v.len()), rng.below(v.len()));
                let chunk: Vec<u8> = v[a.min(b)..a.max(b)].to_vec();
                let at = rng.below(v.len());
                v.splice(at..at, chunk);
            }
            _ => {
                let i = rng.below(v.len());
                v.insert(i, rng.next() as u8);
            }
        }
        v
    }

    /// Iterations per sample: PGCERT_ROBUSTNESS_ITERS for a deeper local run.
    fn iters(default: usize) -> usize {
        std::env::var("PGCERT_ROBUSTNESS_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    fn samples() -> Vec<Vec<u8>> {
        let now = time::OffsetDateTime::now_utc();
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let spec = |p: &str, cn: &str| CertSpec {
            profile: Profile::builtin(p),
            subject: Subject::from_cn(cn).unwrap(),
            sans: vec!["10.0.0.5".parse::<San>().unwrap()],
            validity: Validity::resolve(Some(30), None, None, 30, now).unwrap(),
            serial: Serial::random(),
            pathlen: None,
        };
        let root = self_signed(&spec("root-ca", "Root"), &key).unwrap();
        let signer = CaSigner::new(root.cert.clone(), key).unwrap();
        let leaf_key = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let leaf = issue(
            &spec("server", "db.example.com"),
            &leaf_key.spki_der(),
            false,
            &signer,
            false,
        )
        .unwrap();
        let csr = make_csr(
            &Subject::from_cn("req").unwrap(),
            &[],
            &leaf_key,
            crate::pki::csr::Asks::Nothing,
        )
        .unwrap();
        let crl =
            crate::pki::crl::sign_crl(&signer, &Serial::from_bytes(&[1]), &[], 30, now).unwrap();
        let enc = leaf_key.encrypted_pem("pw").unwrap();
        vec![
            root.cert.der.clone(),
            leaf.cert.der.clone(),
            leaf.cert.pem().into_bytes(),
            csr.clone(),
            to_pem("CERTIFICATE REQUEST", &csr).into_bytes(),
            crl.clone(),
            to_pem("X509 CRL", &crl).into_bytes(),
            leaf_key.pkcs8_der().to_vec(),
            leaf_key.pkcs8_pem().into_bytes(),
            enc.into_bytes(),
        ]
    }

    #[test]
    fn mutated_objects_never_panic_any_parser() {
        let mut rng = Rng(0x5EED_1234_ABCD_0001);
        let now = time::OffsetDateTime::now_utc();
        for sample in samples() {
            for _ in 0..iters(300) {
                let m = mutate(&mut rng, &sample);
                let _ = blocks(&m);
                let _ = read_objects(&m);
                let _ = CertInfo::parse(&m);
                let _ = cert_view(&m, now);
                let _ = csr_view(&m);
                let _ = crl_view(&m, now);
                let _ = crate::pki::crl::crl_info(&m);
                let _ = Csr::parse(&m);
                let _ = PrivateKey::from_bytes(&m);
                let _ = PrivateKey::from_encrypted_bytes(&m, "pw");
                let _ = cert_subject_hash(&m);
                let _ = check_host(&m, "db.example.com");
                let _ = check_host(&m, "10.0.0.5");
                if let Ok(info) = CertInfo::parse(&m) {
                    let _ = info.subject_name();
                }
            }
        }
    }

    #[test]
    fn mutated_text_inputs_never_panic() {
        let mut rng = Rng(0x5EED_1234_ABCD_0002);
        let texts = [
            "V\t361121010041Z\t\t5402E29D72C452BE7769C42001CD5CA7056F1264\tunknown\t/CN=Demo Root",
            "R\t271124010041Z\t261124010041Z,keyCompromise\t0A\tunknown\t/O=a\\/b/CN=x",
            "/C=JP/O=Acme\\/Sub, Inc./CN=db.example.com/emailAddress=a@b.c",
            "ssl = on\nssl_cert_file = 'my ''odd'' name.crt' # c\nssl_key_file server.key\n",
            "dns:*.example.com",
            "0FFF",
        ];
        for t in texts {
            for _ in 0..iters(500) {
                let m = mutate(&mut rng, t.as_bytes());
                let s = String::from_utf8_lossy(&m);
                let _ = IndexEntry::parse(&s);
                let _ = s.parse::<Subject>();
                let _ = s.parse::<San>();
                let _ = s.parse::<Serial>();
                let _ = crate::ca::index::parse_asn1_time(&s);
                let _ = parse_conf(&s);
                let _ = crate::postgres::rules::name_matches(&s, "é.example.com");
                let _ = crate::postgres::rules::name_matches("*.example.com", &s);
                let _ = crate::postgres::rules::host_ip(&s);
            }
        }
    }
}
