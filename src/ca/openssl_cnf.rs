//! `DIR/openssl.cnf`: a configuration with which `openssl ca -config DIR/openssl.cnf`
//! continues a pgcert CA — same database files, same extensions as pgcert's profiles.
//! `dir` is absolute so openssl works from any working directory; pgcert itself never reads
//! this file (it finds everything relative to DIR, so a moved CA keeps working for pgcert;
//! rewrite `dir` after moving it for openssl).

use std::fmt::Write as _;
use std::path::Path;

use crate::pki::key::KeyKind;
use crate::pki::profile::Profile;

fn extension_lines(p: &Profile, aki: &str) -> String {
    let mut s = String::new();
    let ca = p.kind == crate::pki::profile::ProfileKind::Ca;
    let bc = match (ca, p.pathlen) {
        (true, Some(n)) => format!("critical, CA:TRUE, pathlen:{n}"),
        (true, None) => "critical, CA:TRUE".to_string(),
        (false, _) => "critical, CA:FALSE".to_string(),
    };
    let _ = writeln!(s, "basicConstraints = {bc}");
    // openssl.cnf cannot depend on the subject's key type: the RSA-only bits are included
    // (harmless on EC keys for OpenSSL and PostgreSQL); pgcert adds them for RSA keys only.
    let _ = writeln!(
        s,
        "keyUsage = critical, {}",
        p.key_usages_for(true).join(", ")
    );
    if !p.extended_key_usage.is_empty() {
        let _ = writeln!(s, "extendedKeyUsage = {}", p.extended_key_usage.join(", "));
    }
    let _ = writeln!(s, "subjectKeyIdentifier = hash");
    let _ = writeln!(s, "authorityKeyIdentifier = {aki}");
    s
}

/// Render the configuration for the CA in `dir` (an absolute path).
pub fn render(dir: &Path, ca_key: KeyKind) -> String {
    let md = match ca_key {
        KeyKind::P384 => "sha384",
        KeyKind::Ed25519 => "default",
        _ => "sha256",
    };
    let server = Profile::builtin("server");
    let client = Profile::builtin("client");
    let inter = Profile::builtin("intermediate-ca");
    let root = Profile::builtin("root-ca");
    format!(
        r#"# Written by pgcert. `openssl ca -config {dir}/openssl.cnf` continues this CA:
# same database (serial, index.txt, newcerts/), same extensions as pgcert's profiles.
#   openssl ca -config {dir}/openssl.cnf -batch -notext -in server.csr -out server.crt
#   openssl ca -config {dir}/openssl.cnf -batch -notext -extensions client_cert -in alice.csr -out alice.crt
#   openssl ca -config {dir}/openssl.cnf -revoke alice.crt ; openssl ca -config {dir}/openssl.cnf -gencrl -out crl.pem
# If you move this directory, change `dir` below (pgcert itself does not read this file).

[ ca ]
default_ca = pgcert_ca

[ pgcert_ca ]
dir               = {dir}
certs             = $dir/certs
crl_dir           = $dir/crl
database          = $dir/index.txt
new_certs_dir     = $dir/newcerts
certificate       = $dir/cacert.pem
private_key       = $dir/private/cakey.pem
serial            = $dir/serial
crlnumber         = $dir/crlnumber
crl               = $dir/crl.pem
unique_subject    = no
default_md        = {md}
default_days      = {server_days}
default_crl_days  = 30
policy            = policy_anything
preserve          = yes
email_in_dn       = no
name_opt          = ca_default
cert_opt          = ca_default
# SANs come from the CSR; basicConstraints, keyUsage and extendedKeyUsage are set by the
# section below and are never taken from the CSR (copy only adds what is not already set).
copy_extensions   = copy
x509_extensions   = server_cert
crl_extensions    = crl_ext

[ policy_anything ]
countryName            = optional
stateOrProvinceName    = optional
localityName           = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied
emailAddress           = optional
domainComponent        = optional
userId                 = optional
serialNumber           = optional

# pgcert profile "server" (templates/server.toml)
[ server_cert ]
{server_ext}
# pgcert profile "client" (templates/client.toml): CN = database user
[ client_cert ]
{client_ext}
# pgcert profile "intermediate-ca"
[ v3_intermediate_ca ]
{inter_ext}
# pgcert profile "root-ca"
[ v3_ca ]
{root_ext}
[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ req ]
distinguished_name = req_dn
string_mask        = utf8only
utf8               = yes

[ req_dn ]
commonName = Common Name
"#,
        dir = dir.display(),
        md = md,
        server_days = server.default_days,
        server_ext = extension_lines(&server, "keyid"),
        client_ext = extension_lines(&client, "keyid"),
        inter_ext = extension_lines(&inter, "keyid:always"),
        root_ext = extension_lines(&root, "keyid:always"),
    )
}
