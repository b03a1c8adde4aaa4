//! Certificate profiles: which extensions, key usages and default lifetime each kind of
//! certificate gets. The four built-in profiles are the readable files under `templates/`,
//! compiled into the binary; `--template FILE` replaces one with the user's copy.
//! The same profiles feed the extension sections of a CA's `openssl.cnf`, so `openssl ca`
//! and pgcert issue alike.

use serde::Deserialize;

/// Whether the profile makes a CA or an end-entity certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    /// CA:TRUE.
    Ca,
    /// CA:FALSE.
    Leaf,
}

/// One profile, as read from a template file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile name (`root-ca`, `intermediate-ca`, `server`, `client`, or the user's own).
    pub name: String,
    /// CA or leaf.
    pub kind: ProfileKind,
    /// Lifetime when neither `--days` nor `--not-after` is given.
    pub default_days: u32,
    /// basicConstraints pathLenConstraint for CA profiles.
    #[serde(default)]
    pub pathlen: Option<u8>,
    /// keyUsage bits (OpenSSL names), always marked critical.
    pub key_usage: Vec<String>,
    /// Extra keyUsage bits for RSA subject keys.
    #[serde(default)]
    pub rsa_key_usage: Vec<String>,
    /// extendedKeyUsage purposes (OpenSSL names).
    #[serde(default)]
    pub extended_key_usage: Vec<String>,
    /// Add the CN as a SAN (server certificates).
    #[serde(default)]
    pub cn_in_san: bool,
}

/// The built-in profiles by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("root-ca", include_str!("../../templates/root-ca.toml")),
    (
        "intermediate-ca",
        include_str!("../../templates/intermediate-ca.toml"),
    ),
    ("server", include_str!("../../templates/server.toml")),
    ("client", include_str!("../../templates/client.toml")),
];

const KEY_USAGES: &[&str] = &[
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
];
const EKUS: &[&str] = &["serverAuth", "clientAuth"];

impl Profile {
    /// A built-in profile.
    pub fn builtin(name: &str) -> Profile {
        let text = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no built-in profile {name}"))
            .1;
        Profile::parse(text).expect("built-in templates are valid (tested)")
    }

    /// Parse and validate a template file's text.
    pub fn parse(text: &str) -> Result<Profile, String> {
        let p: Profile = toml::from_str(text).map_err(|e| e.to_string())?;
        for ku in p.key_usage.iter().chain(&p.rsa_key_usage) {
            if !KEY_USAGES.contains(&ku.as_str()) {
                return Err(format!(
                    "unknown key usage '{ku}' (known: {})",
                    KEY_USAGES.join(", ")
                ));
            }
        }
        for eku in &p.extended_key_usage {
            if !EKUS.contains(&eku.as_str()) {
                return Err(format!(
                    "unknown extended key usage '{eku}' (known: {})",
                    EKUS.join(", ")
                ));
            }
        }
        match p.kind {
            ProfileKind::Ca => {
                if !p.key_usage.iter().any(|k| k == "keyCertSign") {
                    return Err("a CA profile needs keyCertSign in key_usage".into());
                }
                if !p.key_usage.iter().any(|k| k == "cRLSign") {
                    return Err(
                        "a CA profile needs cRLSign in key_usage (CRLs for PostgreSQL)".into(),
                    );
                }
            }
            ProfileKind::Leaf => {
                if p.key_usage
                    .iter()
                    .any(|k| k == "keyCertSign" || k == "cRLSign")
                {
                    return Err("a leaf profile cannot have keyCertSign or cRLSign".into());
                }
                if p.pathlen.is_some() {
                    return Err("pathlen belongs to CA profiles only".into());
                }
            }
        }
        if p.default_days == 0 {
            return Err("default_days must be at least 1".into());
        }
        Ok(p)
    }

    /// Key usages for a subject key (RSA gets `rsa_key_usage` too).
    pub fn key_usages_for(&self, rsa: bool) -> Vec<&str> {
        let mut v: Vec<&str> = self.key_usage.iter().map(String::as_str).collect();
        if rsa {
            v.extend(self.rsa_key_usage.iter().map(String::as_str));
        }
        // keep the X.509 bit order, so text output matches OpenSSL's
        v.sort_by_key(|k| KEY_USAGES.iter().position(|n| n == k));
        v.dedup();
        v
    }

    pub(crate) fn rcgen_key_usages(&self, rsa: bool) -> Vec<rcgen::KeyUsagePurpose> {
        use rcgen::KeyUsagePurpose as K;
        self.key_usages_for(rsa)
            .into_iter()
            .map(|k| match k {
                "digitalSignature" => K::DigitalSignature,
                "nonRepudiation" => K::ContentCommitment,
                "keyEncipherment" => K::KeyEncipherment,
                "dataEncipherment" => K::DataEncipherment,
                "keyAgreement" => K::KeyAgreement,
                "keyCertSign" => K::KeyCertSign,
                _ => K::CrlSign,
            })
            .collect()
    }

    pub(crate) fn rcgen_ekus(&self) -> Vec<rcgen::ExtendedKeyUsagePurpose> {
        self.extended_key_usage
            .iter()
            .map(|e| match e.as_str() {
                "serverAuth" => rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                _ => rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_parse_and_say_what_clis_md_says() {
        let root = Profile::builtin("root-ca");
        assert_eq!(
            (root.kind, root.default_days, root.pathlen),
            (ProfileKind::Ca, 3650, None)
        );
        let inter = Profile::builtin("intermediate-ca");
        assert_eq!((inter.default_days, inter.pathlen), (1825, Some(0)));
        let server = Profile::builtin("server");
        assert_eq!(server.key_usages_for(false), vec!["digitalSignature"]);
        assert_eq!(
            server.key_usages_for(true),
            vec!["digitalSignature", "keyEncipherment"]
        );
        assert!(server.cn_in_san);
        assert_eq!(
            Profile::builtin("client").extended_key_usage,
            vec!["clientAuth"]
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        let base = "name='x'\nkind='leaf'\ndefault_days=1\nkey_usage=['digitalSignature']\n";
        assert!(Profile::parse(base).is_ok());
        assert!(Profile::parse(&base.replace("digitalSignature", "keyCertSign")).is_err());
        assert!(Profile::parse(&format!("{base}extended_key_usage=['codeSigning']")).is_err());
        assert!(Profile::parse(&format!("{base}bogus=1")).is_err());
        assert!(Profile::parse(&base.replace("'leaf'", "'ca'")).is_err());
    }
}
