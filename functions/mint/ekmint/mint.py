"""One mint, from a parsed request to an answer, with its audit record written either way.

Collaborators (DynamoDB client, key source, HTTP client, clocks) come in as arguments so tests
can pass moto-backed clients, the emulator's URL, or fakes. The steps every route shares
(origin, principal, key, quota, audit) are decision.py's.
"""

from __future__ import annotations

from functools import partial

from . import audit
from .deadline import Deadline
from .decision import Decision, Granted, admit, decide, pay, upstream
from .dependencies import MintDeps
from .models import ClientSecretAnswer, SessionSummary
from .policy import apply_policy, parse_request
from .request import Incoming, check_body
from .upstream import create_client_secret


def mint(
    incoming: Incoming, deps: MintDeps, deadline: Deadline, *, cold_start: bool = False
) -> ClientSecretAnswer:
    work = partial(_mint, incoming, deps, deadline)
    return decide("mint", incoming, deps, work, cold_start=cold_start)


def _mint(
    incoming: Incoming, deps: MintDeps, deadline: Deadline, decision: Decision
) -> tuple[ClientSecretAnswer, Granted]:
    admit(incoming, deps, decision)
    check_body(incoming, deps.settings.max_body_bytes)
    effective = apply_policy(parse_request(incoming.body), deps.settings.session_policy)
    decision.effective = effective
    get_key = pay(deps, decision)
    secret = upstream(
        deps,
        decision,
        create_client_secret,
        effective.upstream_body,
        get_key=get_key,
        deadline=deadline,
    )
    echoed = secret.session
    output = (echoed.get("audio") or {}).get("output") or {}
    summary = SessionSummary(
        type=str(echoed.get("type") or effective.session_type),
        model=echoed.get("model") or effective.model,
        voice=output.get("voice") or effective.voice,
    )
    expires_at = secret.expires_at
    if expires_at is None:
        # Azure may not say: the request's time plus the TTL we asked for. The request's time
        # is before the upstream's creation time, so the derived expiry is never later than
        # the real one. The audit record says it was derived.
        expires_at = int(decision.at.timestamp()) + effective.ttl_s
    answer = ClientSecretAnswer(
        value=secret.value,
        expires_at=expires_at,
        session=summary,
        webrtc_url=deps.settings.webrtc_url,
    )
    granted = Granted(
        http_status=200,
        model=summary.model,
        voice=summary.voice,
        expires_at=expires_at,
        expires_at_derived=True if secret.expires_at is None else None,
        key_fingerprint=audit.fingerprint(secret.value),
    )
    return answer, granted
