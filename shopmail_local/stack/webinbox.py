"""The local web inbox (http://127.0.0.1:8025): relayed mail, inbound mail with its routing
decision, order timelines, bus events, dead-letter queues with a replay button, the
suppression list.

Pages
-----
``/`` relayed mail, ``/mail/<key>`` one mail (tabs: HTML, text, headers, raw, attachments;
the HTML check beside it; "release" when ``shopmail run --release-smtp`` is given),
``/inbound`` and ``/inbound/<SES id>`` received mail, ``/orders`` and ``/orders/<order id>``
everything about one order in time order, ``/events``, ``/dlq``, ``/suppression``. Every list
takes ``?q=`` (see :mod:`shopmail_local.stack.search`). ``/stream`` sends a server-sent event
``change`` whenever the stack records something; the pages' script (``/static/inbox.js``)
then reloads the list in place.

Security of a tool on 127.0.0.1
-------------------------------
- Server-rendered with Jinja2 (autoescape on), stdlib ``ThreadingHTTPServer``, no external
  resources. Page CSP: scripts only from ``'self'`` (no inline script), ``connect-src 'self'``
  for the stream, no plugins, forms only to ``'self'``, framing only by ``'self'``. Inline
  styles stay allowed because a mail's HTML is shown in an ``<iframe sandbox="">`` via
  ``srcdoc``, which inherits the page's policy, and mail HTML is styled inline.
- A mail's stand-alone HTML and attachments are served with ``Content-Security-Policy:
  sandbox`` (no scripts, no remote loads); attachments always as downloads.
- The ``Host`` header must name 127.0.0.1 or localhost with the server's port (DNS rebinding
  cannot read the pages), every POST carries the per-process CSRF token of the page it came
  from and, when the browser sends one, a same-origin ``Origin``; GET never changes state (the
  dead-letter page reads the in-process moto queues without receiving).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shopmail_local.stack.inbox_pages import (
    DOWNLOAD_CSP,
    HERE,
    HTML_CSP,
    PAGE_CSP,
    Response,
    WebApp,
    WebData,
)

STATIC = HERE / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
MAX_FORM_BYTES = 4096
STREAM_HEARTBEAT = 15.0
LOCAL_HOSTS = ("127.0.0.1", "localhost")

log = logging.getLogger(__name__)

__all__ = ["HTML_CSP", "PAGE_CSP", "WebApp", "WebData", "WebInbox"]


class _Handler(BaseHTTPRequestHandler):
    app: WebApp  # set on the subclass made per server
    port: int
    server_version = "shopmail-local"
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web: " + format, *args)

    def _respond(self, r: Response) -> None:
        self.send_response(r.status)
        self.send_header("Content-Type", r.ctype)
        self.send_header("Content-Length", str(len(r.body)))
        self.send_header("Content-Security-Policy", r.csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "SAMEORIGIN")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        for k, v in r.headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(r.body)

    def _send(
        self, body: bytes, ctype: str = "text/html; charset=utf-8", csp: str = PAGE_CSP
    ) -> None:
        self._respond(Response(body, ctype, csp))

    def _error(self, status: HTTPStatus, text: str) -> None:
        self._respond(
            Response(f"{text}\n".encode(), "text/plain; charset=utf-8", DOWNLOAD_CSP, status)
        )

    def _not_found(self) -> None:
        self._error(HTTPStatus.NOT_FOUND, "not found")

    # ------------------------------------------------------------------ checks
    def _host_ok(self) -> bool:
        """The Host header names this server on 127.0.0.1 or localhost (no DNS rebinding)."""
        host = (self.headers.get("Host") or "").strip().lower()
        allowed = {f"{h}:{self.port}" for h in LOCAL_HOSTS}
        if self.port == 80:
            allowed |= set(LOCAL_HOSTS)
        if host in allowed:
            return True
        log.warning("web inbox: request with Host %r refused", host[:80])
        self._error(HTTPStatus.MISDIRECTED_REQUEST, "this server answers only 127.0.0.1/localhost")
        return False

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return False
        if origin is None:
            return True
        return origin.lower() in {f"http://{h}:{self.port}" for h in LOCAL_HOSTS}

    # ------------------------------------------------------------------ GET
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query)
        q = (query.get("q") or [""])[0]
        parts = [urllib.parse.unquote(p) for p in split.path.strip("/").split("/") if p]
        try:
            if parts == ["stream"]:
                self._stream((query.get("since") or [""])[0])
                return
            if len(parts) == 2 and parts[0] == "static":
                self._static(parts[1])
                return
            body = self._page(parts, q)
            if body is None:
                self._not_found()
            elif isinstance(body, Response):
                self._respond(body)
            else:
                self._send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            log.exception("web inbox page failed")
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")

    def _page(self, parts: list[str], q: str) -> bytes | Response | None:
        app = self.app
        if not parts:
            return app.index(q)
        head, rest = parts[0], parts[1:]
        if head == "inbound" and not rest:
            return app.inbound(q)
        if head == "events" and not rest:
            return app.events(q)
        if head == "dlq" and not rest:
            return app.dlq(q=q)
        if head == "suppression" and not rest:
            return app.suppression(q)
        if head == "orders" and not rest:
            return app.orders(q)
        if head == "orders" and len(rest) == 1:
            return app.order(rest[0], q)
        if head in ("mail", "inbound") and rest:
            return self._message(head, rest)
        return None

    def _message(self, source: str, rest: list[str]) -> bytes | Response | None:
        app = self.app
        ident, sub = rest[0], rest[1:]
        if not sub:
            return app.mail(ident) if source == "mail" else app.inbound_item(ident)
        if sub == ["html"]:
            body = app.html_of(source, ident)
            return None if body is None else Response(body, csp=HTML_CSP)
        if sub == ["raw"]:
            raw = app.raw_of(source, ident)
            return None if raw is None else Response(raw, "text/plain; charset=utf-8", DOWNLOAD_CSP)
        if len(sub) == 2 and sub[0] == "attachments":
            return app.attachment_of(source, ident, sub[1])
        return None

    def _static(self, name: str) -> None:
        path = STATIC / name
        ctype = STATIC_TYPES.get(path.suffix)
        if ctype is None or "/" in name or name.startswith(".") or not path.is_file():
            self._not_found()
            return
        self._respond(Response(path.read_bytes(), ctype))

    def _stream(self, since: str = "") -> None:
        """Server-sent events: ``change`` with the new records' ids, a comment as heartbeat.

        ``since`` (the version the page was rendered at) or the ``Last-Event-ID`` of a
        reconnecting client makes changes made in between arrive at once.
        """
        state = self.app.data.state
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", DOWNLOAD_CSP)
        self.end_headers()
        if self.command == "HEAD":
            return
        version = state.version
        for given in (self.headers.get("Last-Event-ID", ""), since):
            if given.isdigit() and int(given) < version:
                version = int(given)
                break
        self.wfile.write(
            f"retry: 2000\nevent: hello\ndata: {json.dumps({'version': version})}\n\n".encode()
        )
        self.wfile.flush()
        idle = 0.0
        while not self.app.stopping.is_set():
            current, changes = state.wait_for_change(version, 1.0)
            if current > version:
                data = json.dumps(
                    {"version": current, "changes": [{"log": c[1], **c[2]} for c in changes]}
                )
                self.wfile.write(f"id: {current}\nevent: change\ndata: {data}\n\n".encode())
                self.wfile.flush()
                version, idle = current, 0.0
            else:
                idle += 1.0
                if idle >= STREAM_HEARTBEAT:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    idle = 0.0

    # ------------------------------------------------------------------ POST
    def do_POST(self) -> None:
        if not self._host_ok():
            return
        path = urllib.parse.urlsplit(self.path).path
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_FORM_BYTES:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "form too large")
            return
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        token = (form.get("csrf") or [""])[0]
        if not self._same_origin() or not hmac.compare_digest(
            token.encode(), self.app.csrf_token.encode()
        ):
            log.warning("web inbox: POST %s without a valid CSRF token refused", path[:80])
            self._error(HTTPStatus.FORBIDDEN, "missing or wrong CSRF token: reload the page")
            return
        try:
            if parts == ["dlq", "replay"]:
                message = self.app.replay((form.get("queue") or [""])[0])
                self._send(self.app.dlq(message))
            elif len(parts) == 3 and parts[0] == "mail" and parts[2] == "release":
                text, css = self.app.release_mail(parts[1], (form.get("to") or [""])[0])
                body = self.app.mail(parts[1], flash=text, flash_class=css)
                if body is None:
                    self._not_found()
                else:
                    self._send(body)
            else:
                self._not_found()
        except Exception:
            log.exception("web inbox action failed")
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "action failed")


class WebInbox:
    """Serve :class:`WebApp` on ``host:port`` in a background thread.

    ``source`` is a :class:`WebData` or a running ``LocalStack`` (its data is derived).
    """

    def __init__(self, source: Any, *, host: str = "127.0.0.1", port: int = 8025) -> None:
        data = source if isinstance(source, WebData) else _data_from_stack(source)
        self.app = WebApp(data)
        handler: Any = type("Handler", (_Handler,), {"app": self.app, "port": port})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = int(self.server.server_address[1])
        handler.port = self.port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (open streams end within a second) and close the socket."""
        self.app.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(5)


def _data_from_stack(stack: Any) -> WebData:
    out = stack.outputs
    dlqs = dict(out.dead_letter_queues) if out is not None else {}
    return WebData(
        state=stack.state,
        sqs=stack.client("sqs"),
        dynamodb=stack.client("dynamodb"),
        dead_letter_queues=dlqs,
        suppression_table=out.tables.get("SuppressionTable", "") if out is not None else "",
        mail_domain=str(out.parameters.get("MailDomain", "")) if out is not None else "",
        replay=stack.replay_dead_letter,
        s3=stack.client("s3"),
        release_target=getattr(stack.config, "release", None),
    )
