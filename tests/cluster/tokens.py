"""RS256 JSON Web Tokens (RFC 7519) and JSON Web Key sets (RFC 7517) for the IAM.

DC/OS auth tokens carry the claims `uid` and `exp` (Unix seconds). The IAM signs them
RS256 (RSASSA-PKCS1-v1_5 with SHA-256) and publishes its public keys at
/acs/api/v1/auth/jwks, the current signing key first.
"""

import base64
import hashlib
import json
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class TokenError(ValueError):
    """A token that is malformed, badly signed or expired."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise TokenError("token part is not a string")
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise TokenError("token part is not base64url: %s" % error) from None


def _int_to_b64url(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def split_token(token: str):
    """Return (header, claims, signing input, signature) of a compact JWT without verifying it."""
    if not isinstance(token, str):
        raise TokenError("token is not a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("token must have three dot-separated parts, got %d" % len(parts))
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as error:
        raise TokenError("token header or payload is not JSON: %s" % error) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("token header and payload must be JSON objects")
    signature = b64url_decode(parts[2])
    return header, claims, (parts[0] + "." + parts[1]).encode("ascii"), signature


def verify_rs256(token: str, public_key, now=None, require_exp=True) -> dict:
    """Verify an RS256 JWT with `public_key` and return its claims.

    Requires `alg` RS256, a string `uid` claim, and (when `require_exp`) a numeric
    `exp` claim in the future.
    """
    header, claims, signing_input, signature = split_token(token)
    if header.get("alg") != "RS256":
        raise TokenError("token alg must be RS256, got %r" % header.get("alg"))
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise TokenError("token signature is invalid") from None
    uid = claims.get("uid")
    if not isinstance(uid, str) or not uid:
        raise TokenError("token has no uid claim")
    exp = claims.get("exp")
    if exp is None:
        if require_exp:
            raise TokenError("token has no exp claim")
    else:
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise TokenError("token exp claim is not a number")
        if exp <= (time.time() if now is None else now):
            raise TokenError("token expired at %d" % exp)
    return claims


def load_public_key(pem: str):
    """Load a PEM SubjectPublicKeyInfo RSA public key (a service account's key)."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError) as error:
        raise ValueError("invalid PEM public key: %s" % error) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("public key is not an RSA key")
    return key


class SigningKey:
    """An RSA key pair that signs tokens, with its JWK id."""

    def __init__(self, bits=2048):
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self.public_key = self.private_key.public_key()
        der = self.public_key.public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        # The kid is derived from the key so that it changes whenever the key does.
        self.kid = hashlib.sha256(der).hexdigest()[:32]

    def sign(self, claims: dict, header: dict = None) -> str:
        """Sign `claims`; `header` replaces the default {"alg": "RS256", "typ": "JWT", "kid": ...}."""
        if header is None:
            header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = (b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))
                         + "." + b64url_encode(json.dumps(claims, separators=(",", ":")).encode("utf-8")))
        signature = self.private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url_encode(signature)

    def jwk(self) -> dict:
        numbers = self.public_key.public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                "n": _int_to_b64url(numbers.n), "e": _int_to_b64url(numbers.e)}

    def public_pem(self) -> str:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


class TokenAuthority:
    """Issues and verifies DC/OS auth tokens; keys[0] signs, every key verifies."""

    def __init__(self, lifetime_seconds: float):
        self.lifetime_seconds = lifetime_seconds
        self.keys = [SigningKey()]

    def issue(self, uid: str) -> str:
        return self.keys[0].sign({"uid": uid, "exp": int(time.time() + self.lifetime_seconds)})

    def verify(self, token: str) -> dict:
        """Return the claims of a valid token signed by one of the keys; raise TokenError."""
        header, _, _, _ = split_token(token)
        kid = header.get("kid")
        candidates = [key for key in self.keys if kid is None or key.kid == kid]
        if not candidates:
            raise TokenError("token kid %r matches no IAM key" % kid)
        last_error = None
        for key in candidates:
            try:
                return verify_rs256(token, key.public_key)
            except TokenError as error:
                last_error = error
        raise last_error

    def jwks(self) -> dict:
        return {"keys": [key.jwk() for key in self.keys]}

    def rotate(self):
        """Put a new signing key first; old tokens still verify with the old key."""
        self.keys.insert(0, SigningKey())
