"""The caller's IP address behind a CDN (CloudFront), trusted only when the CDN proves itself.

Behind CloudFront, API Gateway's `sourceIp` is an edge address shared by every viewer, so an
anonymous quota keyed by it would be one quota for everybody. CloudFront can pass the viewer's
address (`CloudFront-Viewer-Address: 198.51.100.10:46532`, or the first hop of
`X-Forwarded-For`) and add an origin custom header holding a shared secret. ekmint believes the
viewer header only when that secret header is present and equal to the secret (in Secrets
Manager, read through the same cached Powertools provider as the OpenAI key): any other caller
can write a viewer header, but cannot know the secret. Off unless TRUSTED_EDGE_SECRET_ID is set.
docs/security.md, "Behind CloudFront", has the set-up.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from .request import header


def parse_viewer_ip(header: str, value: str) -> str | None:
    """The address in a viewer header, or None if it holds no valid one."""
    text = value.split(",", 1)[0].strip() if header == "x-forwarded-for" else value.strip()
    candidates = [text]
    if header != "x-forwarded-for" and ":" in text:
        # CloudFront appends ":port" (IPv4 and IPv6 alike); brackets are tolerated.
        candidates.insert(0, text.rsplit(":", 1)[0].strip("[]"))
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


class TrustedEdge:
    """Reads the viewer's IP from a CDN's header when the CDN's shared secret comes with it."""

    def __init__(
        self,
        provider: SecretsProvider,
        secret_id: str,
        secret_header: str,
        viewer_ip_header: str,
        max_age_s: int,
    ) -> None:
        self._provider = provider
        self._secret_id = secret_id
        self.secret_header = secret_header.lower()
        self.viewer_ip_header = viewer_ip_header.lower()
        self._max_age_s = max_age_s

    def viewer_ip(self, headers: Mapping[str, str]) -> tuple[str | None, str]:
        """(the viewer's IP or None, why): None when the headers prove nothing."""
        claimed = header(headers, self.viewer_ip_header)
        if claimed is None:
            return None, "no viewer header"
        presented = header(headers, self.secret_header)
        if not presented:
            return None, "viewer header without the edge secret"
        secret = self._provider.get(self._secret_id, max_age=self._max_age_s)
        expected = secret.decode() if isinstance(secret, bytes) else str(secret)
        if not hmac.compare_digest(presented.strip().encode(), expected.strip().encode()):
            return None, "viewer header with a wrong edge secret"
        address = parse_viewer_ip(self.viewer_ip_header, claimed)
        return address, "trusted" if address else "trusted edge, unreadable viewer address"
