"""A throwaway certificate authority for HTTPS tests, made at test time with python3-cryptography.

    /usr/bin/python3 tests/cluster/testca.py DIRECTORY

writes into DIRECTORY:

    ca.pem          the test CA's certificate (the bundle a client trusts)
    server.pem      a server certificate signed by it, for 127.0.0.1 and localhost
    server-key.pem  its private key (unencrypted, mode 0600)
    other-ca.pem    a second, unrelated CA: a client that trusts only it must reject server.pem

The certificates are valid from one hour ago for two days, so nothing made here outlives a
test run by much and nothing needs to be committed.
"""

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=2)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "task-bastion tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name, now):
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (x509.CertificateBuilder()
                   .subject_name(_name(common_name)).issuer_name(_name(common_name))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + VALIDITY)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .sign(key, hashes.SHA256()))
    return key, certificate


def _server(ca_key, ca_certificate, now, ip_san):
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost")]
    if ip_san:
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (x509.CertificateBuilder()
                   .subject_name(_name("127.0.0.1")).issuer_name(ca_certificate.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + VALIDITY)
                   .add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False)
                   .sign(ca_key, hashes.SHA256()))
    return key, certificate


def _write(path, data, mode=0o644):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as handle:
        handle.write(data)


def make_test_pki(directory, ip_san=True) -> dict:
    """Write the files listed in the module docstring; return their paths by name.

    With ip_san=False the server certificate names only localhost, so a client that connects to
    https://127.0.0.1:<port> must reject it for its name.
    """
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, ca_certificate = _ca("task-bastion test CA", now)
    server_key, server_certificate = _server(ca_key, ca_certificate, now, ip_san)
    _, other_certificate = _ca("unrelated test CA", now)

    paths = {name: os.path.join(directory, file_name) for name, file_name in
             (("ca", "ca.pem"), ("cert", "server.pem"), ("key", "server-key.pem"), ("other_ca", "other-ca.pem"))}
    pem = serialization.Encoding.PEM
    _write(paths["ca"], ca_certificate.public_bytes(pem))
    _write(paths["cert"], server_certificate.public_bytes(pem))
    _write(paths["key"], server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()), mode=0o600)
    _write(paths["other_ca"], other_certificate.public_bytes(pem))
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: testca.py DIRECTORY")
    for name, path in make_test_pki(sys.argv[1]).items():
        print("%s: %s" % (name, path))
