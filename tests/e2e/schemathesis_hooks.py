"""Loaded by schemathesis (SCHEMATHESIS_HOOKS, set by test_schemathesis.py): POST
/api/realtime/calls takes an SDP offer, `application/sdp`, a media type schemathesis has no
serializer for. An SDP is UTF-8 text, so it goes on the wire as text/plain would."""

import schemathesis

schemathesis.serializer.alias("application/sdp", "text/plain")
