//! Chains and trust bundles: ordering an unordered set of certificates into
//! leaf -> intermediates (-> root), checking every link (names and signature), and
//! collecting several roots into one trust bundle (root rotation, cross-signing).

use crate::pki::inspect::CertInfo;

/// A chain ordered from the leaf upwards.
#[derive(Debug, Clone)]
pub struct Chain {
    /// leaf, then each issuer in turn.
    pub certs: Vec<CertInfo>,
}

impl Chain {
    /// True when the last certificate is self-signed (a root).
    pub fn ends_in_root(&self) -> bool {
        self.certs.last().is_some_and(|c| c.is_self_issued())
    }
}

/// Order `certs` into one chain. The leaf is the one certificate that signed none of the
/// others. Every link must verify; duplicates are dropped. Errors name the missing issuer.
pub fn order_chain(certs: Vec<CertInfo>) -> Result<Chain, String> {
    let mut certs = dedup(certs);
    if certs.is_empty() {
        return Err("no certificates given".into());
    }
    let signs_another = |c: &CertInfo, all: &[CertInfo]| {
        all.iter()
            .any(|o| !std::ptr::eq(o, c) && !o.is_self_issued() && o.is_signed_by(c))
    };
    let leaves: Vec<usize> = (0..certs.len())
        .filter(|&i| !signs_another(&certs[i], &certs))
        .collect();
    let leaf = match leaves.as_slice() {
        [one] => *one,
        [] => return Err("the certificates form a loop; no leaf found".into()),
        many => {
            // the usual cause: a missing intermediate splits the set; name it
            for &i in many {
                let c = &certs[i];
                if !c.is_self_issued() && !certs.iter().any(|o| c.is_signed_by(o)) {
                    return Err(format!(
                        "the issuer of {} ({}) is missing; add its certificate",
                        c.subject, c.issuer
                    ));
                }
            }
            return Err(format!(
                "the certificates do not form one chain: {} are not issuers of any other ({})",
                many.len(),
                many.iter()
                    .map(|&i| certs[i].subject.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let mut chain = vec![certs.swap_remove(leaf)];
    loop {
        let last = chain.last().expect("non-empty");
        if last.is_self_issued() {
            break;
        }
        match certs.iter().position(|c| last.is_signed_by(c)) {
            Some(i) => {
                let c = certs.swap_remove(i);
                if !c.can_sign_certificates() {
                    return Err(format!(
                        "{} signed {} but is not a CA (CA:TRUE and keyCertSign required)",
                        c.subject, last.subject
                    ));
                }
                chain.push(c);
            }
            None => {
                if certs.is_empty() {
                    break; // chain ends at an intermediate: fine for server.crt
                }
                return Err(format!(
                    "the issuer of {} ({}) is missing; add its certificate",
                    last.subject, last.issuer
                ));
            }
        }
    }
    if let Some(extra) = certs.first() {
        return Err(format!(
            "{} is not part of the chain of {}",
            extra.subject, chain[0].subject
        ));
    }
    Ok(Chain { certs: chain })
}

/// Check the certificates are self-signed CA certificates and drop duplicates: a trust
/// bundle (`root.crt`, `ssl_ca_file`) during a root rotation.
pub fn trust_bundle(certs: Vec<CertInfo>) -> Result<Vec<CertInfo>, String> {
    let certs = dedup(certs);
    if certs.is_empty() {
        return Err("no certificates given".into());
    }
    for c in &certs {
        if !c.is_self_issued() || !c.is_signed_by(c) {
            return Err(format!(
                "{} is not a self-signed root (issued by {}); a trust bundle holds roots only",
                c.subject, c.issuer
            ));
        }
        if !c.is_ca {
            return Err(format!(
                "{} is self-signed but not a CA (CA:TRUE missing)",
                c.subject
            ));
        }
    }
    Ok(certs)
}

fn dedup(certs: Vec<CertInfo>) -> Vec<CertInfo> {
    let mut out: Vec<CertInfo> = Vec::new();
    for c in certs {
        if !out.iter().any(|o| o.der == c.der) {
            out.push(c);
        }
    }
    out
}
