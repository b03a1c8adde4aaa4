#!/usr/bin/env bash
# The PostgreSQL manual's recipe ("Creating Certificates") for the same set pgcert quickstart
# makes: root CA, intermediate CA, server (leaf + intermediate in server.crt), client, and a CRL
# per CA (the manual's flow keeps no database, so the CRLs come from `openssl ca -gencrl` over an
# empty index, which is what a user of this recipe has to do). An extension file stands in for
# /etc/ssl/openssl.cnf so the result has the extensions pgcert gives (keyUsage, pathlen, SAN, EKU).
# usage: openssl-manual.sh OUTDIR ec|rsa
set -euo pipefail
out=${1:?usage: $0 OUTDIR ec|rsa}
case ${2:-ec} in
  ec) keyopt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
  rsa) keyopt=(-newkey rsa:2048) ;;
  *) echo "ec or rsa" >&2; exit 2 ;;
esac
cd "$out"
cat > ext.cnf <<'CNF'
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[inter]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ca]
default_ca = db
[db]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 30
[crlext]
authorityKeyIdentifier = keyid:always
CNF
# root: req + x509 -signkey, as the manual does
openssl req -new -nodes -text "${keyopt[@]}" -out root.csr -keyout root.key -subj "/CN=root.example" 2>/dev/null
chmod og-rwx root.key
openssl x509 -req -in root.csr -text -days 3650 -extfile ext.cnf -extensions root -signkey root.key -out root.crt 2>/dev/null
# intermediate
openssl req -new -nodes -text "${keyopt[@]}" -out intermediate.csr -keyout intermediate.key -subj "/CN=intermediate.example" 2>/dev/null
chmod og-rwx intermediate.key
openssl x509 -req -in intermediate.csr -text -days 1825 -extfile ext.cnf -extensions inter -CA root.crt -CAkey root.key -CAcreateserial -out intermediate.crt 2>/dev/null
# server, with the chain in server.crt
openssl req -new -nodes -text "${keyopt[@]}" -out server.csr -keyout server.key -subj "/CN=localhost" 2>/dev/null
chmod og-rwx server.key
openssl x509 -req -in server.csr -text -days 365 -extfile ext.cnf -extensions server -CA intermediate.crt -CAkey intermediate.key -CAcreateserial -out server-leaf.crt 2>/dev/null
cat server-leaf.crt intermediate.crt > server.crt
# client (CN = database user)
openssl req -new -nodes -text "${keyopt[@]}" -out client.csr -keyout client.key -subj "/CN=postgres" 2>/dev/null
chmod og-rwx client.key
openssl x509 -req -in client.csr -text -days 365 -extfile ext.cnf -extensions client -CA intermediate.crt -CAkey intermediate.key -CAcreateserial -out client.crt 2>/dev/null
# CRLs for both CAs (PostgreSQL checks every CA of the chain)
: > index.txt; echo 01 > crlnumber
openssl ca -config ext.cnf -gencrl -crlexts crlext -keyfile intermediate.key -cert intermediate.crt -out intermediate.crl 2>/dev/null
openssl ca -config ext.cnf -gencrl -crlexts crlext -keyfile root.key -cert root.crt -out root.crl 2>/dev/null
cat intermediate.crl root.crl > crl.pem
