#include "auth/public_key.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "auth/openssl_handles.h"
#include "common/base64.h"

namespace tb::auth {
namespace {

// Appends `text` as an SSH string: a 4-byte big-endian length, then the bytes.
void AppendSshString(std::string_view text, std::string* out) {
  const auto length = static_cast<std::uint32_t>(text.size());
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(length >> shift));
  out->append(text);
}

// Appends `number` as an SSH mpint, which is BN_bn2mpi's format.
Status AppendMpint(const BIGNUM* number, std::string* out) {
  int length = BN_bn2mpi(number, nullptr);
  if (length <= 0) return Status::Internal("OpenSSL BN_bn2mpi failed");
  std::string bytes(static_cast<std::size_t>(length), '\0');
  BN_bn2mpi(number, reinterpret_cast<unsigned char*>(bytes.data()));
  out->append(bytes);
  return Status::Ok();
}

}  // namespace

std::string SshFingerprint(std::string_view blob) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(blob.data(), blob.size(), digest, &length, EVP_sha256(), nullptr);
  std::string text = Base64Encode(std::string_view(reinterpret_cast<char*>(digest), length));
  while (!text.empty() && text.back() == '=') text.pop_back();
  return "SHA256:" + text;
}

Result<std::string> SshBlobType(std::string_view blob) {
  if (blob.size() < 4) return Status::InvalidArgument("key blob shorter than 4 bytes");
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length = (length << 8) | static_cast<unsigned char>(blob[i]);
  if (length == 0 || length > blob.size() - 4) {
    return Status::InvalidArgument("key blob has an invalid type length");
  }
  return std::string(blob.substr(4, length));
}

Result<std::string> SshRsaBlobFromPem(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Status::Internal("OpenSSL BIO_new_mem_buf failed");
  EvpPkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Status::InvalidArgument("not a PEM SubjectPublicKeyInfo public key");
  if (!EVP_PKEY_is_a(key.get(), "RSA")) return Status::InvalidArgument("the key is not RSA");

  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    return Status::Internal("OpenSSL could not read the RSA key's n and e");
  }
  Bignum modulus(n);
  Bignum exponent(e);

  std::string blob;
  AppendSshString("ssh-rsa", &blob);
  Status s = AppendMpint(exponent.get(), &blob);
  if (s.ok()) s = AppendMpint(modulus.get(), &blob);
  if (!s.ok()) return s;
  return blob;
}

bool SshKeyMatchesPem(const SshPublicKey& key, std::string_view pem) {
  if (key.type != "ssh-rsa") return false;
  Result<std::string> blob = SshRsaBlobFromPem(pem);
  return blob.ok() && *blob == key.blob;
}

}  // namespace tb::auth
