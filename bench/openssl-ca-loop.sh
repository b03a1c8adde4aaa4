#!/usr/bin/env bash
# N client certificates (ECDSA P-256) from one intermediate CA with `openssl ca`, the way a shell
# loop does it: one `openssl req` (key + CSR) and one `openssl ca` per certificate, each certificate
# and key into its own file, the CA's index.txt, serial and newcerts/ kept by openssl.
# The CA pair (root, intermediate) is made first, inside the timed run, like pgcert mint's.
# usage: openssl-ca-loop.sh OUTDIR N
set -euo pipefail
out=${1:?usage: $0 OUTDIR N}; n=${2:?usage: $0 OUTDIR N}
cd "$out"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
mkdir -p ca/newcerts clients
: > ca/index.txt
echo 1000 > ca/serial
cat > ca.cnf <<CNF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $PWD/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
certificate = \$dir/inter.crt
private_key = \$dir/inter.key
default_md = sha256
default_days = 365
policy = policy_any
unique_subject = no
x509_extensions = client_cert
[ policy_any ]
commonName = supplied
[ client_cert ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_inter ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
export SSL_CERT_FILE=/dev/null
openssl req -x509 -new -nodes "${ec[@]}" -keyout root.key -out root.crt -subj "/CN=Root" \
  -days 3650 -extensions v3_ca -config ca.cnf 2>/dev/null
openssl req -new -nodes "${ec[@]}" -keyout ca/inter.key -out inter.csr -subj "/CN=Intermediate" 2>/dev/null
openssl x509 -req -in inter.csr -CA root.crt -CAkey root.key -CAcreateserial -days 1825 \
  -extfile ca.cnf -extensions v3_inter -out ca/inter.crt 2>/dev/null
chmod 600 root.key ca/inter.key
for i in $(seq 1 "$n"); do
  openssl req -new -nodes "${ec[@]}" -keyout "clients/user$i.key" -out req.csr -subj "/CN=user$i" 2>/dev/null
  openssl ca -batch -notext -config ca.cnf -in req.csr -out "clients/user$i.crt" 2>/dev/null
done
