"""JWT mode on one machine: a local issuer's signing key, the dev tokens it signs, and the
checks API Gateway's JWT authorizer makes before the function ever runs.

The authorizer's rules (AWS docs, "Control access to HTTP APIs with JWT authorizers"): the
token comes from the Authorization header, with or without "Bearer "; only RSA algorithms;
the header's `kid` must name a key of the issuer; `iss` must equal the issuer; `aud` must
match an audience, or `client_id` when there is no `aud`; `exp` must be in the future, `nbf`
and `iat` in the past. Any failure is `401 {"message":"Unauthorized"}` with a
`www-authenticate` header that says why.

PyJWT does the JWS work: a well-kept library beats hand-written signature and claim code.
The signing key is a fixed RSA dev key under `.local/` (gitignored), so a token from
`ekmint token` stays valid across stack restarts, like a real identity provider's.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_DIR_ENV = "EKMINT_LOCAL_DIR"
KEY_FILE = "jwt-signing-key.pem"
ISSUER_PATH = "/local-issuer"
DEFAULT_AUDIENCE = "ekmint-local"
DEFAULT_TOKEN_TTL_S = 3600
ALGORITHM = "RS256"
# API Gateway's JWT authorizer accepts RSA signatures only.
ACCEPTED_ALGORITHMS = ("RS256", "RS384", "RS512")
RSA_KEY_BITS = 2048


def local_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the stack keeps machine-local state (gitignored); EKMINT_LOCAL_DIR overrides."""
    env = os.environ if environ is None else environ
    return Path(env.get(LOCAL_DIR_ENV) or REPO_ROOT / ".local")


def default_issuer(port: int) -> str:
    return f"http://127.0.0.1:{port}{ISSUER_PATH}"


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    kid: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        """The public half as a JWK, as an issuer's jwks_uri publishes it."""
        jwk: dict[str, Any] = json.loads(str(RSAAlgorithm.to_jwk(self.public_key)))
        return jwk | {"kid": self.kid, "use": "sig", "alg": ALGORITHM}


def _kid_of(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def load_or_create_key(directory: Path) -> SigningKey:
    """The dev signing key in `directory`, created on first use.

    Created under a temporary name and linked into place, so two processes starting at once
    (a stack and `ekmint token`) agree on one key instead of overwriting each other's.
    """
    path = directory / KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        temporary = directory / f".{KEY_FILE}.{uuid.uuid4().hex}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            temporary.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key; delete it to get a new one")
    return SigningKey(loaded, _kid_of(loaded))


def issue_token(
    key: SigningKey,
    *,
    sub: str,
    issuer: str,
    audience: str,
    ttl_s: int = DEFAULT_TOKEN_TTL_S,
    now: float | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    issued_at = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    payload.update(claims or {})
    return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def discovery_document(issuer: str) -> dict[str, Any]:
    """What `{issuer}/.well-known/openid-configuration` answers; API Gateway reads jwks_uri."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "subject_types_supported": ["public"],
        "response_types_supported": ["id_token"],
    }


class Denied(Exception):
    """The authorizer refused the request; `www_authenticate` is the header API Gateway sends."""

    def __init__(self, description: str | None) -> None:
        super().__init__(description or "no token")
        self.description = description

    @property
    def www_authenticate(self) -> str:
        if self.description is None:
            # RFC 6750 section 3: a request with no credentials gets the bare challenge.
            return "Bearer"
        return f'Bearer scope="" error="invalid_token" error_description="{self.description}"'


@dataclass(frozen=True)
class JwtAuthorizer:
    key: SigningKey
    issuer: str
    audiences: tuple[str, ...]

    def authorize(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, or Denied with API Gateway's reason."""
        token = (authorization or "").strip()
        scheme, _, rest = token.partition(" ")
        if scheme.lower() == "bearer":
            token = rest.strip()
        if not token:
            raise Denied(None)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Denied("the token is malformed") from None
        if header.get("alg") not in ACCEPTED_ALGORITHMS:
            raise Denied(f"signing method {header.get('alg')} is invalid")
        if header.get("kid") != self.key.kid:
            raise Denied("the token has no kid matching a key of the issuer")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key.public_key,
                algorithms=list(ACCEPTED_ALGORITHMS),
                issuer=self.issuer,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Denied("the token has expired") from None
        except jwt.InvalidIssuerError:
            raise Denied("the token does not have a valid issuer") from None
        except jwt.ImmatureSignatureError:
            raise Denied("the token is not valid yet") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Denied(f"the token has no {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise Denied("the token signature is invalid") from None
        except jwt.PyJWTError:
            raise Denied("the token is malformed") from None
        if not _audience_ok(claims, self.audiences):
            raise Denied("the token does not have a valid audience")
        return claims


def _audience_ok(claims: Mapping[str, Any], audiences: Sequence[str]) -> bool:
    # API Gateway checks client_id only when there is no aud; with both, aud decides.
    if "aud" in claims:
        aud = claims["aud"]
        offered = [aud] if isinstance(aud, str) else list(aud or [])
    else:
        offered = [claims["client_id"]] if "client_id" in claims else []
    return any(value in audiences for value in offered)


def parse_audiences(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())
