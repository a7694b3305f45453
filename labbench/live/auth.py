"""Who may see and steer a live run: whoever holds its token.

Every run's server has a random token, printed once in its address
(``http://127.0.0.1:5006/?token=...``).  The first request carries it in the URL; the
server answers with a same-site, HTTP-only cookie, so the page's websocket (the data and
the buttons) carries it too.  A request without the token, or with a wrong one, gets
403 and nothing else, not the page and not the data; a wrong token is logged.  Bokeh's
own JavaScript (``/static``) is served to anyone: it is the library, not the run.
"""
from __future__ import annotations

import hmac
import logging
import secrets

from bokeh.server.auth_provider import AuthProvider
from tornado.web import RequestHandler

log = logging.getLogger(__name__)

COOKIE = "labbench_live"
MIN_TOKEN = 16


def new_token() -> str:
    return secrets.token_urlsafe(24)


class _Refused(RequestHandler):
    def get(self) -> None:
        self.set_status(403)
        self.write("labbench live: this page needs the token printed with its address\n")


class TokenAuth(AuthProvider):
    def __init__(self, token: str):
        self.token = token
        super().__init__()

    def _check(self, handler) -> str | None:
        given = handler.get_argument("token", None)
        from_url = given is not None
        if given is None:
            given = handler.get_cookie(COOKIE)
        if given is None:
            return None
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            log.warning("live view: refused a request from %s for %s with a wrong token",
                        handler.request.remote_ip, handler.request.path)
            return None
        if from_url and not getattr(handler, "ws_connection", None) and handler.request.path != "/ws":
            handler.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return "viewer"

    @property
    def get_user(self):
        return self._check

    @property
    def login_url(self):
        return "/refused"

    @property
    def login_handler(self):
        return _Refused


def guard_websocket(tornado_app) -> None:
    """Refuse the websocket *before* the upgrade when the token is missing or wrong.

    Bokeh checks the user in its websocket's ``open()``, after the handshake, where a
    refusal can only break the connection; here the handshake itself gets 403.  Done by
    swapping the ``/ws`` route's handler for a subclass (tornado's router rules)."""
    from bokeh.server.views.ws import WSHandler
    from tornado.web import HTTPError

    class TokenWSHandler(WSHandler):
        def prepare(self):
            if self.application.auth_provider.get_user(self) is None:
                raise HTTPError(403)
            return super().prepare()

    for rule in tornado_app.wildcard_router.rules:
        if isinstance(rule.target, type) and issubclass(rule.target, WSHandler):
            rule.target = TokenWSHandler
