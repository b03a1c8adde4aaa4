#!/usr/bin/env bash
# A seed corpus made with openssl (and pgcert's own CA files): certificates, CSRs, CRLs, plain
# and encrypted keys of every type in PEM and DER, index.txt files, serials, subjects, configs.
# usage: fuzz/seeds.sh CORPUS_DIR   (one subdirectory per target)
set -euo pipefail
out=$(realpath -m "${1:?usage: $0 CORPUS_DIR}")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
for t in objects certificate csr crl key encrypted_key text index_file; do mkdir -p "$out/$t"; done
i=0
seed() { cp "$2" "$out/$1/seed-$i"; i=$((i+1)); }
for alg in "ec -pkeyopt ec_paramgen_curve:P-256" "ec -pkeyopt ec_paramgen_curve:P-384" "ec -pkeyopt ec_paramgen_curve:P-521" ed25519 ed448 "rsa -pkeyopt rsa_keygen_bits:2048" "rsa-pss -pkeyopt rsa_keygen_bits:2048"; do
  openssl genpkey -algorithm ${alg} -out k.pem 2>/dev/null
  openssl req -new -x509 -key k.pem -subj "/O=Fuzz/OU=A/OU=B/CN=db.example.com" -days 30 \
    -addext "subjectAltName=DNS:db.example.com,IP:10.0.0.5,email:a@example.com" \
    -addext "nameConstraints=permitted;DNS:example.com" -out c.pem 2>/dev/null
  openssl x509 -in c.pem -outform DER -out c.der
  openssl req -new -key k.pem -subj "/CN=alice+UID=alice" -addext "extendedKeyUsage=clientAuth" -out r.pem 2>/dev/null
  openssl req -in r.pem -outform DER -out r.der
  openssl pkey -in k.pem -outform DER -out k.der
  openssl pkcs8 -topk8 -in k.pem -passout pass:fuzz -out e.pem 2>/dev/null
  openssl pkcs8 -topk8 -in k.pem -passout pass:fuzz -scrypt -outform DER -out e.der 2>/dev/null
  for f in c.pem c.der r.pem k.pem e.pem; do seed objects $f; done
  seed certificate c.der; seed csr r.pem; seed csr r.der; seed key k.pem; seed key k.der
  seed encrypted_key e.der; openssl pkcs8 -topk8 -in k.pem -passout pass:fuzz -outform DER -out e2.der 2>/dev/null; seed encrypted_key e2.der
done
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out rk.pem 2>/dev/null
openssl rsa -in rk.pem -traditional -out pkcs1.pem 2>/dev/null; seed key pkcs1.pem
openssl ecparam -name prime256v1 -genkey -noout -out sec1.pem; seed key sec1.pem
# a CA database with revocations, and its CRL
mkdir -p ca/newcerts; touch ca/index.txt; echo 01 > ca/serial; echo 01 > ca/crlnumber
openssl req -new -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout ca/key.pem -out ca/ca.pem -subj /CN=Fuzz\ CA -days 30 2>/dev/null
cat > ca.cnf <<CNF
[ca]
default_ca = d
[d]
dir = $tmp/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = \$dir/ca.pem
private_key = \$dir/key.pem
default_md = sha256
default_days = 30
default_crl_days = 7
policy = p
unique_subject = no
[p]
commonName = supplied
CNF
for n in a b c; do
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null
  openssl ca -batch -config ca.cnf -in $n.csr -out $n.crt 2>/dev/null
done
openssl ca -config ca.cnf -revoke b.crt -crl_reason keyCompromise 2>/dev/null
openssl ca -config ca.cnf -gencrl -out crl.pem 2>/dev/null
openssl crl -in crl.pem -outform DER -out crl.der
seed crl crl.der; seed objects crl.pem; seed index_file ca/index.txt
head -1 ca/index.txt > line.txt; seed text line.txt
printf '0A1B\n' > s.txt; seed text s.txt
printf 'unique_subject = yes\n' > attr.txt; seed text attr.txt
printf '/O=PGDG/OU=Engineering/OU=Testing/CN=a\\/b+UID=x' > subj.txt; seed text subj.txt
printf "ssl = on\nssl_cert_file = 'my ''odd'' name.crt' # c\ninclude_dir = 'conf.d'\n" > conf.txt; seed text conf.txt
printf 'env:PGPASS' > pass.txt; seed text pass.txt
printf 'file:/tmp/x' > pass2.txt; seed text pass2.txt
printf '361231235959Z' > t.txt; seed text t.txt
echo "seeds: $i files in $out"
