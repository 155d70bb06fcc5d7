"""The local web inbox (http://127.0.0.1:8025): relayed mail, inbound decisions, bus events,
dead-letter queues with a replay button, the suppression list.

Server-rendered with Jinja2 (autoescape on: everything is HTML-escaped), stdlib
``ThreadingHTTPServer``, no external resources. A mail's HTML part is shown in an
``<iframe sandbox="">`` via ``srcdoc``; its stand-alone route is served with a
``Content-Security-Policy: sandbox`` header that blocks scripts and remote loads.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jinja2

from shopmail_local.stack.state import StateStore

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
HTML_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; "
    "font-src data:; form-action 'none'; frame-ancestors 'self'"
)
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; form-action 'self'"


@dataclass
class WebData:
    """What the web inbox reads: the state folder and the moto-backed queues and table."""

    state: StateStore
    sqs: Any = None
    dynamodb: Any = None
    dead_letter_queues: Mapping[str, str] = field(default_factory=dict)  # name -> URL
    suppression_table: str = ""
    mail_domain: str = "shop.example"
    replay: Callable[[str], int] | None = None


def _when(ts: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return ""


class WebApp:
    """Request routing and rendering (no sockets; :class:`WebInbox` serves it)."""

    def __init__(self, data: WebData) -> None:
        self.data = data
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def render(self, name: str, **context: Any) -> bytes:
        """Render a template to UTF-8 bytes."""
        return self.env.get_template(name).render(**context).encode("utf-8")

    # ------------------------------------------------------------------ pages
    def index(self) -> bytes:
        mails = []
        for r in reversed(self.data.state.relay_log()):
            mails.append({**r, "when": _when(r.get("ts"))})
        return self.render("index.html", title="Relayed mail", mails=mails)

    def mail(self, key: str) -> bytes | None:
        stored = self.data.state.get_relayed(key)
        if stored is None:
            return None
        msg = stored.message()
        assert isinstance(msg, EmailMessage)
        html_part = msg.get_body(preferencelist=("html",))
        text_part = msg.get_body(preferencelist=("plain",))
        attachments = [
            {
                "name": part.get_filename() or "",
                "type": part.get_content_type(),
                "size": len(part.get_payload(decode=True) or b""),
            }
            for part in msg.iter_attachments()
        ]
        return self.render(
            "mail.html",
            title=str(msg.get("Subject", "(no subject)")),
            key=key,
            headers=[(k, str(v)) for k, v in msg.items()],
            html=_content(html_part) if html_part is not None else "",
            text=_content(text_part) if text_part is not None else None,
            attachments=attachments,
        )

    def mail_html(self, key: str) -> bytes | None:
        stored = self.data.state.get_relayed(key)
        if stored is None:
            return None
        msg = stored.message()
        assert isinstance(msg, EmailMessage)
        part = msg.get_body(preferencelist=("html",))
        return _content(part).encode("utf-8") if part is not None else b""

    def mail_raw(self, key: str) -> bytes | None:
        stored = self.data.state.get_relayed(key)
        return None if stored is None else stored.raw

    def inbound(self) -> bytes:
        events = [e.get("event") or {} for e in self.data.state.event_log()]
        items: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for r in self.data.state.inbound_log():
            mid = str(r.get("message_id", ""))
            if r.get("kind") == "received":
                items[mid] = {
                    **r,
                    "when": _when(r.get("ts")),
                    "invocations": [],
                    "events": [],
                    "decisions": [],
                }
                order.append(mid)
            elif mid in items and r.get("kind") in ("decision", "action"):
                items[mid]["decisions"].append(r)
            elif mid in items and r.get("kind") == "invocation":
                inv = dict(r)
                inv["result_json"] = json.dumps(r.get("result"), indent=2, default=str)
                items[mid]["invocations"].append(inv)
        for mid, item in items.items():
            item["events"] = [e for e in events if mid and mid in json.dumps(e.get("detail"))]
        ordered = [items[m] for m in reversed(order)]
        return self.render(
            "inbound.html", title="Inbound mail", items=ordered, domain=self.data.mail_domain
        )

    def events(self) -> bytes:
        rows = []
        for r in reversed(self.data.state.event_log()):
            e = r.get("event") or {}
            detail = json.dumps(e.get("detail"), indent=2, ensure_ascii=False, default=str)
            rows.append(
                {
                    "when": _when(r.get("ts")),
                    "source": e.get("source", ""),
                    "detail_type": e.get("detail-type", ""),
                    "summary": detail[:120].replace("\n", " "),
                    "detail": detail,
                }
            )
        return self.render("events.html", title="Bus events", events=rows)

    def dlq(self, message: str = "") -> bytes:
        queues = []
        for name, url in self.data.dead_letter_queues.items():
            bodies: list[str] = []
            count = 0
            if self.data.sqs is not None:
                attrs = self.data.sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
                count = int(attrs.get("ApproximateNumberOfMessages", 0))
                if count:
                    resp = self.data.sqs.receive_message(
                        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
                    )
                    for m in resp.get("Messages") or []:
                        bodies.append(_pretty(m["Body"]))
            queues.append({"name": name, "count": count, "messages": bodies})
        return self.render("dlq.html", title="Dead-letter queues", queues=queues, message=message)

    def replay(self, name: str) -> str:
        url = self.data.dead_letter_queues.get(name)
        if url is None or self.data.replay is None:
            return f"Unknown queue {name}"
        moved = self.data.replay(url)
        return f"Replayed {moved} message(s) from {name}."

    def suppression(self) -> bytes:
        rows: list[dict[str, str]] = []
        if self.data.dynamodb is not None and self.data.suppression_table:
            kwargs: dict[str, Any] = {"TableName": self.data.suppression_table}
            while True:
                resp = self.data.dynamodb.scan(**kwargs)
                rows += [{k: _attr(v) for k, v in item.items()} for item in resp["Items"]]
                if "LastEvaluatedKey" not in resp:
                    break
                kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        columns = sorted({c for r in rows for c in r}, key=lambda c: (c != "address", c))
        return self.render("suppression.html", title="Suppression list", rows=rows, columns=columns)


def _content(part: Any) -> str:
    try:
        return str(part.get_content())
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        return body


def _attr(value: Mapping[str, Any]) -> str:
    ((kind, v),) = value.items()
    return json.dumps(v) if kind in ("M", "L") else str(v)


class _Handler(BaseHTTPRequestHandler):
    app: WebApp  # set on the subclass made per server
    server_version = "shopmail-local"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web: " + format, *args)

    def _send(
        self, body: bytes, ctype: str = "text/html; charset=utf-8", csp: str = PAGE_CSP
    ) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _not_found(self) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "not found")

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
        app = self.app
        try:
            if not parts:
                self._send(app.index())
            elif parts == ["inbound"]:
                self._send(app.inbound())
            elif parts == ["events"]:
                self._send(app.events())
            elif parts == ["dlq"]:
                self._send(app.dlq())
            elif parts == ["suppression"]:
                self._send(app.suppression())
            elif parts[0] == "mail" and len(parts) in (2, 3):
                key, sub = parts[1], (parts[2] if len(parts) == 3 else "")
                if sub == "":
                    body = app.mail(key)
                    ctype, csp = "text/html; charset=utf-8", PAGE_CSP
                elif sub == "html":
                    body = app.mail_html(key)
                    ctype, csp = "text/html; charset=utf-8", HTML_CSP
                elif sub == "raw":
                    body = app.mail_raw(key)
                    ctype, csp = "text/plain; charset=utf-8", "sandbox; default-src 'none'"
                else:
                    body = None
                if body is None:
                    self._not_found()
                else:
                    self._send(body, ctype, csp)
            else:
                self._not_found()
        except Exception:
            log.exception("web inbox page failed")
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path != "/dlq/replay":
            self._not_found()
            return
        length = min(int(self.headers.get("Content-Length") or 0), 4096)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        name = (form.get("queue") or [""])[0]
        try:
            message = self.app.replay(name)
            self._send(self.app.dlq(message))
        except Exception:
            log.exception("replay failed")
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "replay failed")


class WebInbox:
    """Serve :class:`WebApp` on ``host:port`` in a background thread.

    ``source`` is a :class:`WebData` or a running ``LocalStack`` (its data is derived).
    """

    def __init__(self, source: Any, *, host: str = "127.0.0.1", port: int = 8025) -> None:
        data = source if isinstance(source, WebData) else _data_from_stack(source)
        self.app = WebApp(data)
        handler = type("Handler", (_Handler,), {"app": self.app})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = int(self.server.server_address[1])
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
        """Stop serving and close the socket."""
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
    )
