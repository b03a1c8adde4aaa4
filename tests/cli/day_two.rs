//! Day two: refreshing CRLs and trust bundles in place, renewals the server loads, rotation,
//! expiry watching, files for other users.

use crate::support::{Sandbox, require};

/// A CRL file and a trust bundle are refreshed in place without --force; a key, a certificate
/// chain or a file of another kind in their place still needs it.
#[test]
fn crl_and_trust_bundle_refresh_in_place_without_force() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&["crl", "--ca", "inter", "--out", "chain.crl"]);
    let first = sb.read("chain.crl");
    sb.ok(&["crl", "--ca", "inter", "--out", "chain.crl"]);
    assert_ne!(
        sb.read("chain.crl"),
        first,
        "a new CRL replaced the old one"
    );
    sb.openssl_ok(&["crl", "-in", "chain.crl", "-noout"]);
    // the hashed directory behaves the same way
    sb.ok(&["crl", "--ca", "inter", "--crl-dir", "crl.d"]);
    sb.ok(&["crl", "--ca", "inter", "--crl-dir", "crl.d"]);
    assert_eq!(std::fs::read_dir(sb.path("crl.d")).unwrap().count(), 2);
    // something else in the CRL's place is refused, and left as it was
    sb.ok(&["key", "gen", "--out", "precious.key"]);
    let key = sb.read("precious.key");
    let e = sb.fails(&["crl", "--ca", "inter", "--out", "precious.key"]);
    assert!(
        e.contains("precious.key") && e.contains("not a CRL file") && e.contains("--force"),
        "{e}"
    );
    assert_eq!(sb.read("precious.key"), key);
    // trust bundles: refreshed in place; a certificate chain is not a trust bundle
    sb.ok(&["init-ca", "--ca", "root2"]);
    sb.ok(&["bundle", "--trust", "root/cacert.pem", "--out", "root.crt"]);
    sb.ok(&[
        "bundle",
        "--trust",
        "root/cacert.pem",
        "root2/cacert.pem",
        "--out",
        "root.crt",
    ]);
    assert_eq!(sb.read("root.crt").matches("BEGIN CERTIFICATE").count(), 2);
    sb.ok(&[
        "issue", "server", "--ca", "inter", "--cn", "db", "--out", "s",
    ]);
    let chain = sb.read("s/server.crt");
    let e = sb.fails(&[
        "bundle",
        "--trust",
        "root/cacert.pem",
        "--out",
        "s/server.crt",
    ]);
    assert!(e.contains("not a trust bundle"), "{e}");
    assert_eq!(sb.read("s/server.crt"), chain);
    // a chain is a certificate: replacing one still needs --force
    let e = sb.fails(&[
        "bundle",
        "s/server.crt",
        "root/cacert.pem",
        "--out",
        "s/server.crt",
    ]);
    assert!(e.contains("refusing to overwrite"), "{e}");
    sb.ok(&[
        "--force",
        "bundle",
        "--trust",
        "root/cacert.pem",
        "--out",
        "precious.key",
    ]);
}
