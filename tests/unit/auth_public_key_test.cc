#include "auth/public_key.h"

#include <gtest/gtest.h>

#include "common/base64.h"
#include "tests/unit/auth_fakes.h"

namespace tb::auth {
namespace {

// A key made with `ssh-keygen -t rsa -b 2048`; the PEM is `ssh-keygen -e -m PKCS8` of it and the
// fingerprint `ssh-keygen -l`'s, so both come from OpenSSH, not from the code under test.
constexpr const char* kOpenSshRsa =
    "AAAAB3NzaC1yc2EAAAADAQABAAABAQDBgbNXzn7zQH5Ph4KpmeQfO64ATZNhyL3N4ZbA9AstRiVRihYGaA+g4wnfPDf7"
    "rauc03H2jfnzEH/aqQIi5qXJ5WcAnb4e1Nxl7NE+ujP1BPSJBsMW0h8BMsJ2Ek5AyX3/UCJne5DXIWn8Oxl9GFRqvpX7"
    "wWhzNybqpB0foWWjZalcBo8s7/zyoPFUzcaFt2l3qjnrDlGqj26GYQ+wRhM2T3eadAk6XUa48rr0hMXNl8t8Bj2oWZHF"
    "6FfRTcjPgvh7jWQrluYuEwVJc+CJTgnptfFI9NyzuMXlOlGU+W2II4CDfZcEkhjFugjxp1ykBNPmefXgROH41v2Trarm"
    "j5dT";
constexpr const char* kRsaPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwYGzV85+80B+T4eCqZnk\n"
    "HzuuAE2TYci9zeGWwPQLLUYlUYoWBmgPoOMJ3zw3+62rnNNx9o358xB/2qkCIual\n"
    "yeVnAJ2+HtTcZezRProz9QT0iQbDFtIfATLCdhJOQMl9/1AiZ3uQ1yFp/DsZfRhU\n"
    "ar6V+8Foczcm6qQdH6Flo2WpXAaPLO/88qDxVM3Ghbdpd6o56w5Rqo9uhmEPsEYT\n"
    "Nk93mnQJOl1GuPK69ITFzZfLfAY9qFmRxehX0U3Iz4L4e41kK5bmLhMFSXPgiU4J\n"
    "6bXxSPTcs7jF5TpRlPltiCOAg32XBJIYxboI8adcpATT5nn14ETh+Nb9k62q5o+X\n"
    "UwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
constexpr const char* kRsaFingerprint = "SHA256:XI0WLqwjczsEx3+cCLXqFqifnX4TS2cI8xxVvtSSCt8";
constexpr const char* kOpenSshEd25519 =
    "AAAAC3NzaC1lZDI1NTE5AAAAIHLOAPW0fiUQGGXTM/ZB2ehGZ01DfhszguHBOr/+e/89";
constexpr const char* kEd25519Fingerprint = "SHA256:NfJboGyuHT8jWHQvzaR/Yuf+fjarIrcNvVMDryO8gSc";

SshPublicKey Key(const char* base64, const char* type) {
  SshPublicKey key;
  key.type = type;
  key.blob = *Base64Decode(base64);
  key.fingerprint = SshFingerprint(key.blob);
  return key;
}

TEST(PublicKeyTest, FingerprintMatchesSshKeygen) {
  EXPECT_EQ(SshFingerprint(*Base64Decode(kOpenSshRsa)), kRsaFingerprint);
  EXPECT_EQ(SshFingerprint(*Base64Decode(kOpenSshEd25519)), kEd25519Fingerprint);
}

TEST(PublicKeyTest, BlobTypeRead) {
  EXPECT_EQ(*SshBlobType(*Base64Decode(kOpenSshRsa)), "ssh-rsa");
  EXPECT_EQ(*SshBlobType(*Base64Decode(kOpenSshEd25519)), "ssh-ed25519");
  EXPECT_FALSE(SshBlobType("\0\0").ok());
  EXPECT_FALSE(SshBlobType(std::string("\0\0\0\x09ssh", 7)).ok());
}

TEST(PublicKeyTest, PemConvertsToOpenSshBlob) {
  Result<std::string> blob = SshRsaBlobFromPem(kRsaPem);
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  EXPECT_EQ(Base64Encode(*blob), kOpenSshRsa);
}

TEST(PublicKeyTest, MatchingKeyAccepted) {
  EXPECT_TRUE(SshKeyMatchesPem(Key(kOpenSshRsa, "ssh-rsa"), kRsaPem));
}

TEST(PublicKeyTest, OtherRsaKeyRejected) {
  std::string other_pem = ::tb::testing::PublicPem(::tb::testing::TestRsaKey(0));
  EXPECT_FALSE(SshKeyMatchesPem(Key(kOpenSshRsa, "ssh-rsa"), other_pem));
}

TEST(PublicKeyTest, NonRsaSshKeyNeverMatches) {
  EXPECT_FALSE(SshKeyMatchesPem(Key(kOpenSshEd25519, "ssh-ed25519"), kRsaPem));
  // A blob claiming ssh-rsa in the type field alone does not match either.
  SshPublicKey mislabeled = Key(kOpenSshEd25519, "ssh-rsa");
  EXPECT_FALSE(SshKeyMatchesPem(mislabeled, kRsaPem));
}

TEST(PublicKeyTest, BadPemRejected) {
  EXPECT_FALSE(SshRsaBlobFromPem("").ok());
  EXPECT_FALSE(SshRsaBlobFromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok());
  EvpPkey ec(EVP_EC_gen("P-256"));
  Result<std::string> blob = SshRsaBlobFromPem(::tb::testing::PublicPem(ec.get()));
  ASSERT_FALSE(blob.ok());
  EXPECT_EQ(blob.status().message(), "the key is not RSA");
  EXPECT_FALSE(SshKeyMatchesPem(Key(kOpenSshRsa, "ssh-rsa"), "garbage"));
}

}  // namespace
}  // namespace tb::auth
