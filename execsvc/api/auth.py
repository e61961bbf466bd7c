"""API-key authentication for the order endpoints (`X-API-Key`).

Keys come from `EXECSVC_API_KEYS` (SecretStr). The presented key is compared with every
configured key by `hmac.compare_digest`, without stopping at the first match, so timing does
not reveal which key (or how much of one) matched. Requests without a valid key get 401 and
nothing is recorded. Handlers see only `ApiKeyId`, a short hash naming the key in logs and
audit entries; the key itself is never stored or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader

from execsvc.api.deps import Ctx
from execsvc.api.problems import Problem

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="one of EXECSVC_API_KEYS")


def key_id(key: str) -> str:
    """A stable, non-reversible name for a key: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


async def require_api_key(
    ctx: Ctx, presented: Annotated[str | None, Security(api_key_header)] = None
) -> str:
    """The caller's key id, or 401 problem+json."""
    keys = ctx.settings.service_keys
    if not keys:
        raise Problem(401, "order endpoints are disabled: no API keys are configured "
                      "(EXECSVC_API_KEYS)", reason="no_api_keys")
    if not presented:
        raise Problem(401, "missing X-API-Key header", reason="missing_api_key")
    candidate = presented.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key.get_secret_value().encode())
    if not matched:
        raise Problem(401, "invalid API key", reason="invalid_api_key")
    return key_id(presented)


async def optional_api_key(
    ctx: Ctx, presented: Annotated[str | None, Security(api_key_header)] = None
) -> str | None:
    """The caller's key id when a key is presented (401 when it is invalid), else None."""
    return await require_api_key(ctx, presented) if presented else None


ApiKeyId = Annotated[str, Depends(require_api_key)]
OptionalApiKeyId = Annotated[str | None, Depends(optional_api_key)]
