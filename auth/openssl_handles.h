// Owning smart pointers for the OpenSSL handles auth/ uses, each with a stateless deleter.
//
// An EVP_PKEY may be shared between threads for verification and signing once it is built
// (OpenSSL 3 takes its own reference in each EVP_MD_CTX), so a key set can be read by
// several workers; the per-operation contexts (EVP_MD_CTX) are never shared.

#ifndef TASK_BASTION_AUTH_OPENSSL_HANDLES_H_
#define TASK_BASTION_AUTH_OPENSSL_HANDLES_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>

namespace tb::auth {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct EvpPkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* context) const noexcept { EVP_PKEY_CTX_free(context); }
};
struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};
struct BioDeleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct BignumDeleter {
  void operator()(BIGNUM* number) const noexcept { BN_free(number); }
};
struct ParamBuildDeleter {
  void operator()(OSSL_PARAM_BLD* builder) const noexcept { OSSL_PARAM_BLD_free(builder); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* params) const noexcept { OSSL_PARAM_free(params); }
};

using EvpPkey = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using EvpPkeyCtx = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxDeleter>;
using EvpMdCtx = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;
using Bio = std::unique_ptr<BIO, BioDeleter>;
using Bignum = std::unique_ptr<BIGNUM, BignumDeleter>;
using ParamBuild = std::unique_ptr<OSSL_PARAM_BLD, ParamBuildDeleter>;
using Params = std::unique_ptr<OSSL_PARAM, ParamDeleter>;

// A key that several owners share (a key set copied into each verification, say).
using SharedEvpPkey = std::shared_ptr<EVP_PKEY>;
inline SharedEvpPkey Share(EvpPkey key) { return SharedEvpPkey(key.release(), EvpPkeyDeleter()); }

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_OPENSSL_HANDLES_H_
