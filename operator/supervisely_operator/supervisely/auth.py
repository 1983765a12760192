"""The API token: held masked, attached only to requests for the configured server, scrubbed.

The token grants the operator's Supervisely user full API access, so it must never show up in a
log line, an exception, a repr or a Kubernetes status, and it must never be sent to any host but
the configured server. httpx's ``Headers`` repr masks ``Authorization`` but not ``x-api-key``, so
the token lives only inside :class:`ApiKeyAuth` and is put on a request at send time.
"""

from collections.abc import Generator

import httpx
from pydantic import SecretStr

MASK = "**********"


class ApiKeyAuth(httpx.Auth):
    """Sets ``x-api-key`` on requests to ``base_url`` (same scheme, host, port, path prefix).

    A request to anywhere else (a redirect target, a mistaken absolute URL) goes out without the
    token. The client does not follow redirects either; this is the second lock.
    """

    def __init__(self, token: SecretStr, *, base_url: httpx.URL) -> None:
        self._token = token
        self._base_url = base_url

    def __repr__(self) -> str:
        return f"ApiKeyAuth(base_url={str(self._base_url)!r}, token={MASK!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Attach the token when the request targets the configured API."""
        if self._targets_api(request.url):
            request.headers["x-api-key"] = self._token.get_secret_value()
        yield request

    def _targets_api(self, url: httpx.URL) -> bool:
        base = self._base_url
        return (
            url.scheme == base.scheme
            and url.host == base.host
            and url.port == base.port
            and url.path.startswith(base.path)
        )


def redact(text: str, token: SecretStr) -> str:
    """``text`` with every occurrence of the token replaced by a mask.

    Applied to everything taken from the server or from an httpx exception before it goes into
    an error message or a log record: a server may echo a bad token back in its error text.
    """
    secret = token.get_secret_value()
    if not secret:
        return text
    return text.replace(secret, MASK)
