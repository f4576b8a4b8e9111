"""API tokens: read from `[api] tokens_file`, kept only as SHA-256 digests, compared in constant time.

Public API: `load_tokens(path) -> Tokens`, `Tokens.accepts(presented)`, `hash_token(token)`.
A line of the file is a token, or `sha256:<64 hex digits>` (its digest: then the file holds no
secret); blank lines and lines starting with `#` are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from connector.core.errors import ConfigError

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Tokens:
    digests: tuple[bytes, ...]

    @property
    def required(self) -> bool:
        return bool(self.digests)

    def accepts(self, presented: str | None) -> bool:
        if not presented:
            return False
        digest = hashlib.sha256(presented.encode()).digest()
        # every stored digest is compared, so the time taken says nothing about which one matched
        matched = False
        for known in self.digests:
            matched |= hmac.compare_digest(digest, known)
        return matched


def load_tokens(path: Path | None) -> Tokens:
    if path is None:
        return Tokens(())
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [f"api.tokens_file: cannot read {str(path)!r}: {getattr(exc, 'strerror', None) or exc}"]
        ) from None
    digests = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("sha256:"):
            match = _DIGEST.fullmatch(line.lower())
            if match is None:
                raise ConfigError([f"{path}: line {number}: a hashed token is sha256: and 64 hex digits"])
            digests.append(bytes.fromhex(match.group(1)))
        else:
            digests.append(hashlib.sha256(line.encode()).digest())
    if not digests:
        raise ConfigError([f"api.tokens_file: {str(path)!r} holds no token"])
    return Tokens(tuple(digests))
