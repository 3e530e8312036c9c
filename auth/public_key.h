// SSH public keys as plain values, and their comparison with the PEM RSA keys of IAM service
// accounts.
//
// server/ turns a libssh ssh_key into an SshPublicKey (the key type name, the public key blob in
// SSH wire format as libssh exports it, and the SHA256 fingerprint); auth/ never sees libssh.
// A service account's `public_key` is a PEM SubjectPublicKeyInfo RSA key. To compare the two,
// the PEM key is read with OpenSSL and written out as an "ssh-rsa" blob (RFC 4253 section 6.6:
// string "ssh-rsa", mpint e, mpint n), which must then equal the client's blob byte for byte.
// OpenSSL's BN_bn2mpi output is exactly the SSH mpint encoding (RFC 4251 section 5): a 4-byte
// big-endian length, then the big-endian two's complement bytes.
//
// Logs name keys by fingerprint ("SHA256:<base64 without padding>", as ssh-keygen -l prints it),
// never by blob. Pure functions, thread-safe.

#ifndef TASK_BASTION_AUTH_PUBLIC_KEY_H_
#define TASK_BASTION_AUTH_PUBLIC_KEY_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace tb::auth {

struct SshPublicKey {
  std::string type;         // "ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", ...
  std::string blob;         // the public key in SSH wire format
  std::string fingerprint;  // "SHA256:..."
};

// Returns "SHA256:" and the unpadded base64 of the SHA-256 of `blob`.
std::string SshFingerprint(std::string_view blob);

// Returns the key type name at the start of an SSH public key blob (its first string), or
// InvalidArgument when the blob is too short to hold one.
Result<std::string> SshBlobType(std::string_view blob);

// Converts a PEM SubjectPublicKeyInfo RSA public key ("-----BEGIN PUBLIC KEY-----") to an
// "ssh-rsa" blob. InvalidArgument when the PEM does not parse or the key is not RSA.
Result<std::string> SshRsaBlobFromPem(std::string_view pem);

// Returns true when `key` is an "ssh-rsa" key equal to the RSA key in `pem`. A PEM that does not
// parse matches nothing.
bool SshKeyMatchesPem(const SshPublicKey& key, std::string_view pem);

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_PUBLIC_KEY_H_
