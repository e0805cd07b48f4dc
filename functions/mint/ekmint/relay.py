"""One relayed call: the page's SDP offer posted to the upstream's `/realtime/calls` with the
server's session and the real key (OpenAI's unified interface), the SDP answer handed back.

The page never holds a credential. Everything but the offer is the mint's (decision.py): the
same origin check, principal, quota charge and audit record, and the same session policy, so
the session a call gets is exactly the one a mint with the same `model` and `voice` would mint.
Nothing of the offer or the answer is logged or recorded; only their sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from .deadline import Deadline
from .decision import Decision, Granted, admit, decide, pay, upstream
from .dependencies import MintDeps
from .errors import InvalidOffer, InvalidSessionConfig
from .models import AudioOutputRequest, AudioRequest, ClientSecretRequest, SessionRequest
from .policy import EffectiveSession, apply_policy
from .request import Incoming, check_body
from .upstream import create_call

SDP_MEDIA_TYPE = "application/sdp"
# What the page may choose in the query string; the server's policy decides the rest.
QUERY_PARAMETERS = ("model", "voice")


@dataclass(frozen=True)
class RelayedCall:
    answer_sdp: str


def relay(
    incoming: Incoming, deps: MintDeps, deadline: Deadline, *, cold_start: bool = False
) -> RelayedCall:
    work = partial(_relay, incoming, deps, deadline)
    return decide("call", incoming, deps, work, cold_start=cold_start)


def _relay(
    incoming: Incoming, deps: MintDeps, deadline: Deadline, decision: Decision
) -> tuple[RelayedCall, Granted]:
    admit(incoming, deps, decision)
    decision.sizes["offer_bytes"] = len(incoming.body)
    check_body(incoming, deps.settings.max_body_bytes, SDP_MEDIA_TYPE)
    offer = _offer(incoming.body)
    effective = session_for(incoming.query, deps)
    decision.effective = effective
    get_key = pay(deps, decision)
    call = upstream(
        deps,
        decision,
        create_call,
        offer,
        get_key=get_key,
        deadline=deadline,
        session=effective.upstream_body["session"],
    )
    decision.sizes["answer_bytes"] = len(call.answer_sdp.encode())
    granted = Granted(
        http_status=201, model=effective.model, voice=effective.voice, call_id=call.call_id
    )
    return RelayedCall(answer_sdp=call.answer_sdp), granted


def _offer(body: bytes) -> bytes:
    # A cheap sanity check, so that junk costs no quota and no upstream call; the upstream
    # parses the SDP itself.
    if not body.startswith(b"v=0"):
        raise InvalidOffer("the body is not an SDP offer (it must start with 'v=0')")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidOffer("the SDP offer is not UTF-8 text") from None
    return body


def session_for(query: Mapping[str, str], deps: MintDeps) -> EffectiveSession:
    """The query's `model` and `voice` through the mint's own policy, as if the page had sent
    `{"session": {"model": …, "audio": {"output": {"voice": …}}}}` to the mint."""
    unknown = sorted(set(query) - set(QUERY_PARAMETERS))
    if unknown:
        raise InvalidSessionConfig(
            f"query parameter {unknown[0]!r} is not accepted",
            f"Use only {', '.join(QUERY_PARAMETERS)}; the server's policy sets the rest.",
        )
    voice = query.get("voice")
    request = ClientSecretRequest(
        session=SessionRequest(
            model=query.get("model"),
            audio=AudioRequest(output=AudioOutputRequest(voice=voice)) if voice else None,
        )
    )
    return apply_policy(request, deps.settings.session_policy)
