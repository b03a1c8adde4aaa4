//! RSA-2048 key generation, in-process, the two crates interleaved: `rsa` 0.10 (what pgcert
//! uses) and aws-lc-rs. Prints the medians of 41 runs each.
use std::time::Instant;
fn median(mut v: Vec<f64>) -> f64 { v.sort_by(|a, b| a.partial_cmp(b).unwrap()); v[v.len() / 2] }
fn main() {
    let n = 41;
    let mut a = Vec::new();
    let mut r = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        std::hint::black_box(&k);
        a.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let k = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        std::hint::black_box(&k);
        r.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("RSA-2048 keygen, {n} interleaved, in-process: aws-lc-rs median {:.1} ms, rsa 0.10 median {:.1} ms", median(a), median(r));
}
