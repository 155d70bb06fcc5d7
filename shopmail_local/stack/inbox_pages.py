"""The web inbox's pages: what each URL of :mod:`shopmail_local.stack.webinbox` shows.

No sockets here: :class:`WebApp` renders the Jinja2 templates (autoescape on) from the state
folder's logs and Maildirs and the moto-backed queues, table and bucket in :class:`WebData`;
``webinbox.py`` serves it over HTTP and does the request checks.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jinja2

from shopmail_local.stack.html_check import check_html
from shopmail_local.stack.mailview import MailView, decode_header_value
from shopmail_local.stack.release import ReleaseError, ReleaseTarget, release
from shopmail_local.stack.search import matches, parse_query, row_text
from shopmail_local.stack.state import StateStore
from shopmail_local.stack.timeline import OrderIndex, event_order_ids, when

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
HTML_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; "
    "font-src data:; form-action 'none'; frame-ancestors 'self'"
)
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src data:; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'self'"
)
DOWNLOAD_CSP = "sandbox; default-src 'none'"


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
    s3: Any = None
    release_target: ReleaseTarget | None = None


def _when(ts: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _pathq(value: Any) -> str:
    return urllib.parse.quote(str(value), safe="")


@dataclass(frozen=True)
class Response:
    """A page or file to send."""

    body: bytes
    ctype: str = "text/html; charset=utf-8"
    csp: str = PAGE_CSP
    status: HTTPStatus = HTTPStatus.OK
    headers: tuple[tuple[str, str], ...] = ()


class WebApp:
    """Request routing and rendering (no sockets; :class:`WebInbox` serves it)."""

    def __init__(self, data: WebData) -> None:
        self.data = data
        self.csrf_token = secrets.token_urlsafe(32)
        self.stopping = threading.Event()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["pathq"] = _pathq

    def render(self, name: str, **context: Any) -> bytes:
        """Render a template to UTF-8 bytes."""
        base: dict[str, Any] = {
            "q": "",
            "search": None,
            "live": False,
            "page": name.removesuffix(".html"),
            "flash": "",
            "flash_class": "ok",
            "csrf": self.csrf_token,
            "version": self.data.state.version,
        }
        base.update(context)
        return self.env.get_template(name).render(**base).encode("utf-8")

    def live_page(self, name: str, title: str, search: str, q: str, **context: Any) -> bytes:
        """Render a page that refreshes itself and has a search box (submitting to ``search``,
        showing ``q``)."""
        return self.render(name, title=title, q=q, search=search, live=True, **context)

    # ------------------------------------------------------------------ data
    def suppression_rows(self) -> list[dict[str, str]]:
        """The suppression table's items as ``{column: text}`` ([] without a table)."""
        rows: list[dict[str, str]] = []
        if self.data.dynamodb is None or not self.data.suppression_table:
            return rows
        kwargs: dict[str, Any] = {"TableName": self.data.suppression_table}
        while True:
            resp = self.data.dynamodb.scan(**kwargs)
            rows += [{k: _attr(v) for k, v in item.items()} for item in resp["Items"]]
            if "LastEvaluatedKey" not in resp:
                return rows
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def order_index(self, with_suppression: bool = False) -> OrderIndex:
        """The logs indexed by order."""
        st = self.data.state
        rows = self.suppression_rows() if with_suppression else []
        return OrderIndex(st.relay_log(), st.inbound_log(), st.event_log(), rows)

    # ------------------------------------------------------------------ pages
    def index(self, q: str = "") -> bytes:
        """The relayed mail, newest first."""
        terms = parse_query(q)
        index = self.order_index()
        mails = []
        for r in reversed(index.relay):
            orders = index.relay_order_ids(r)
            subject = decode_header_value(r.get("subject", ""))
            text = row_text(
                subject,
                r.get("mail_from"),
                r.get("rcpt_tos"),
                r.get("message_id"),
                r.get("ses_message_id"),
                orders,
                r.get("tags"),
                r.get("key"),
            )
            if matches(terms, text):
                mails.append(
                    {
                        **{k: r.get(k) or "" for k in ("key", "mail_from", "ses_message_id")},
                        **{k: _list(r.get(k)) for k in ("rcpt_tos", "outbox", "loopback")},
                        "simulator": _list(r.get("simulator")),
                        "subject": subject,
                        "orders": orders,
                        "when": _when(r.get("ts")),
                    }
                )
        return self.live_page("index.html", "Relayed mail", "/", q, mails=mails)

    def _record_for_key(self, key: str) -> dict[str, Any] | None:
        index = self.order_index()
        for r in reversed(index.relay):
            if r.get("key") == key:
                return {**r, "orders": index.relay_order_ids(r)}
        return None

    def _view(self, raw: bytes, outbound: bool) -> dict[str, Any]:
        view = MailView(raw)
        html = view.html
        text, cut = view.raw_text()
        return {
            "summary": view.summary(),
            "headers": view.headers(),
            "html": html,
            "text": view.text,
            "attachments": view.attachments(),
            "raw_text": text,
            "raw_cut": cut,
            "raw_size": len(raw),
            "subject": view.subject,
            "check": check_html(html) if outbound and html else None,
        }

    def mail(self, key: str, flash: str = "", flash_class: str = "ok") -> bytes | None:
        """One relayed mail with tabs, the HTML check and the release form."""
        stored = self.data.state.get_relayed(key)
        if stored is None:
            return None
        view = self._view(stored.raw, outbound=True)
        target = self.data.release_target
        return self.render(
            "mail.html",
            title=view["subject"] or "(no subject)",
            view=view,
            base=f"/mail/{_pathq(key)}",
            release=target.label if target is not None else None,
            record=self._record_for_key(key),
            flash=flash,
            flash_class=flash_class,
        )

    def mail_raw(self, key: str) -> bytes | None:
        """The relayed mail's source."""
        stored = self.data.state.get_relayed(key)
        return None if stored is None else stored.raw

    def _inbound_raw(self, ses_id: str) -> bytes | None:
        item = self._inbound_items().get(ses_id)
        if item is None or self.data.s3 is None:
            return None
        for bucket, key in item.get("s3_keys") or []:
            try:
                obj = self.data.s3.get_object(Bucket=bucket, Key=key)
            except Exception:  # noqa: S112 - gone (lifecycle, reset): try the next copy
                continue
            return bytes(obj["Body"].read())
        return None

    def raw_of(self, source: str, ident: str) -> bytes | None:
        """The raw mail of ``("mail", key)`` or ``("inbound", SES id)``."""
        if source == "mail":
            return self.mail_raw(ident)
        return self._inbound_raw(ident)

    def html_of(self, source: str, ident: str) -> bytes | None:
        """The HTML part alone ('' when there is none)."""
        raw = self.raw_of(source, ident)
        return None if raw is None else MailView(raw).html.encode("utf-8")

    def attachment_of(self, source: str, ident: str, index: str) -> Response | None:
        """An attachment as a download."""
        raw = self.raw_of(source, ident)
        if raw is None or not index.isdigit():
            return None
        found = MailView(raw).attachment(int(index))
        if found is None:
            return None
        info, data = found
        name = info.filename.replace('"', "").replace("\r", "").replace("\n", "")
        ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
        disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{_pathq(name)}"
        ctype = info.content_type if "/" in info.content_type else "application/octet-stream"
        return Response(data, ctype, DOWNLOAD_CSP, headers=(("Content-Disposition", disposition),))

    def _inbound_items(self) -> dict[str, dict[str, Any]]:
        events = [e.get("event") or {} for e in self.data.state.event_log()]
        items: dict[str, dict[str, Any]] = {}
        for r in self.data.state.inbound_log():
            mid = str(r.get("message_id", ""))
            if r.get("kind") == "received":
                items[mid] = {
                    **r,
                    "message_id": mid,
                    "mail_from": str(r.get("mail_from") or ""),
                    "recipients": _list(r.get("recipients")),
                    "rules": _list(r.get("rules")),
                    "s3_keys": [
                        k for k in _list(r.get("s3_keys")) if isinstance(k, list) and len(k) == 2
                    ],
                    "verdicts": r.get("verdicts") if isinstance(r.get("verdicts"), dict) else {},
                    "subject": decode_header_value(r.get("subject", "")),
                    "when": _when(r.get("ts")),
                    "invocations": [],
                    "events": [],
                    "decisions": [],
                    "orders": [],
                }
            elif mid in items and r.get("kind") in ("decision", "action"):
                items[mid]["decisions"].append(r)
            elif mid in items and r.get("kind") == "invocation":
                inv = {"attempts": 0, "ok": False, "error": "", "dead_lettered": False}
                inv.update({"result": None, **r})
                inv["result_json"] = json.dumps(r.get("result"), indent=2, default=str)
                items[mid]["invocations"].append(inv)
        # an event belongs to an inbound mail when its detail names the mail's SES id anywhere
        # (a value, or a path segment of one such as an S3 key): index the values once
        by_value: dict[str, list[int]] = {}
        for i, e in enumerate(events):
            for value in _string_values(e.get("detail")):
                by_value.setdefault(value, []).append(i)
        for mid, item in items.items():
            hits = sorted(set(by_value.get(mid, []))) if mid else []
            item["events"] = [events[i] for i in hits]
        return items

    def inbound(self, q: str = "") -> bytes:
        """Received mail, newest first."""
        terms = parse_query(q)
        items = self._inbound_items()
        index = self.order_index()
        ordered = []
        for item in reversed(list(items.values())):
            item["orders"] = index.inbound_order_ids(str(item.get("message_id", "")))
            text = row_text(
                item.get("subject"),
                item.get("mail_from"),
                item.get("recipients"),
                item.get("message_id"),
                item.get("header_message_id"),
                item.get("orders"),
                [d.get("route") for d in item["decisions"]],
                [e.get("detail-type") for e in item["events"]],
            )
            if matches(terms, text):
                ordered.append(item)
        return self.live_page(
            "inbound.html",
            "Inbound mail",
            "/inbound",
            q,
            items=ordered,
            domain=self.data.mail_domain,
        )

    def inbound_item(self, ses_id: str) -> bytes | None:
        """One received mail: decision, handler, events, and the stored mail with tabs."""
        item = self._inbound_items().get(ses_id)
        if item is None:
            return None
        item["orders"] = self.order_index().inbound_order_ids(ses_id)
        raw = self._inbound_raw(ses_id)
        return self.render(
            "inbound_item.html",
            title=item.get("subject") or "(no subject)",
            item=item,
            domain=self.data.mail_domain,
            view=self._view(raw, outbound=False) if raw is not None else None,
            base=f"/inbound/{_pathq(ses_id)}",
        )

    def orders(self, q: str = "") -> bytes:
        """Every order seen."""
        terms = parse_query(q)
        index = self.order_index()
        rows = [
            {"id": oid, "when": _when(ts), "count": n}
            for oid, ts, n in index.order_ids()
            if matches(terms, row_text(oid, sorted(index.keys(oid))))
        ]
        return self.live_page("orders.html", "Orders", "/orders", q, orders=rows)

    def order(self, order_id: str, q: str = "") -> bytes:
        """The timeline of one order."""
        terms = parse_query(q)
        index = self.order_index(with_suppression=True)
        entries = [
            {
                "when": when(e),
                "kind": e.kind.value,
                "kind_class": e.kind.name.lower(),
                "title": e.title,
                "summary": e.summary,
                "link": e.link,
            }
            for e in index.timeline(order_id)
            if matches(terms, row_text(e.kind.value, e.title, e.summary))
        ]
        return self.live_page(
            "order.html",
            f"Order {order_id}",
            f"/orders/{_pathq(order_id)}",
            q,
            order_id=order_id,
            numbers=sorted(index.keys(order_id) - {order_id}),
            entries=entries,
        )

    def events(self, q: str = "") -> bytes:
        """Bus events, newest first."""
        terms = parse_query(q)
        rows = []
        for r in reversed(self.data.state.event_log()):
            e = r.get("event") or {}
            detail = json.dumps(e.get("detail"), indent=2, ensure_ascii=False, default=str)
            orders = event_order_ids(e)
            text = row_text(e.get("id"), e.get("source"), e.get("detail-type"), detail, orders)
            if not matches(terms, text):
                continue
            rows.append(
                {
                    "id": str(e.get("id", "")),
                    "when": _when(r.get("ts")),
                    "source": e.get("source", ""),
                    "detail_type": e.get("detail-type", ""),
                    "summary": detail[:120].replace("\n", " "),
                    "detail": detail,
                    "orders": orders,
                    "open": bool(terms),
                }
            )
        return self.live_page("events.html", "Bus events", "/events", q, events=rows)

    def dlq(self, message: str = "", q: str = "") -> bytes:
        """The dead-letter queues and their first messages (peeked, see :meth:`_peek`)."""
        terms = parse_query(q)
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
                    for raw in self._peek(url):
                        body = _pretty(raw)
                        if matches(terms, row_text(name, body)):
                            bodies.append(body)
            queues.append({"name": name, "count": count, "messages": bodies})
        return self.live_page(
            "dlq.html", "Dead-letter queues", "/dlq", q, queues=queues, message=message
        )

    def _peek(self, url: str, limit: int = 10) -> list[str]:
        """Up to ``limit`` message bodies of a queue, without receiving them.

        The stack's moto server runs in this process: its queue is read directly, so viewing
        the page changes nothing (no receive count, no visibility change). When the queue is
        not in this process, the messages are received with a zero visibility timeout (which
        only raises SQS's approximate receive count).
        """
        try:
            from moto.sqs.models import sqs_backends

            account, name = urllib.parse.urlsplit(url).path.strip("/").split("/")[-2:]
            region = str(self.data.sqs.meta.region_name)
            queue = sqs_backends[account][region].get_queue(name)
            return [str(m.body) for m in list(queue.messages)[:limit]]
        except Exception:  # noqa: S110 - not in this process (or another moto): receive instead
            pass
        resp = self.data.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=limit, VisibilityTimeout=0
        )
        return [str(m["Body"]) for m in resp.get("Messages") or []]

    def replay(self, name: str) -> str:
        """Replay one dead-letter queue; return the message shown."""
        url = self.data.dead_letter_queues.get(name)
        if url is None or self.data.replay is None:
            return f"Unknown queue {name}"
        moved = self.data.replay(url)
        return f"Replayed {moved} message(s) from {name}."

    def suppression(self, q: str = "") -> bytes:
        """The suppression list."""
        terms = parse_query(q)
        rows = [r for r in self.suppression_rows() if matches(terms, row_text(r))]
        columns = sorted({c for r in rows for c in r}, key=lambda c: (c != "address", c))
        return self.live_page(
            "suppression.html", "Suppression list", "/suppression", q, rows=rows, columns=columns
        )

    def release_mail(self, key: str, to: str) -> tuple[str, str]:
        """Release a relayed mail to ``to``; return ``(message, css class)``."""
        target = self.data.release_target
        if target is None:
            return "Release is off (start the stack with --release-smtp HOST:PORT).", "bad"
        stored = self.data.state.get_relayed(key)
        if stored is None:
            return "No such mail.", "bad"
        record = self._record_for_key(key) or {}
        mail_from = str(record.get("mail_from") or "")
        if not mail_from:
            mail_from = MailView(stored.raw).header("Return-Path").strip("<>")
        try:
            reply = release(target, stored.raw, mail_from, to)
        except ReleaseError as exc:
            return f"Not released: {exc.reason}", "bad"
        return f"Released to {to.strip()} through {target.label}: {reply}", "ok"


def _list(value: Any) -> list[Any]:
    """``value`` when it is a list, else ``[]`` (log records from older or broken runs)."""
    return list(value) if isinstance(value, (list, tuple)) else []


def _string_values(value: Any, depth: int = 0) -> set[str]:
    """Every string in a JSON value, plus the ``/``-separated parts of each (bounded depth)."""
    out: set[str] = set()
    if depth > 12:
        return out
    if isinstance(value, str):
        out.add(value)
        if "/" in value:
            out.update(p for p in value.split("/") if p)
    elif isinstance(value, Mapping):
        for v in value.values():
            out |= _string_values(v, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            out |= _string_values(v, depth + 1)
    return out


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        return body


def _attr(value: Mapping[str, Any]) -> str:
    ((kind, v),) = value.items()
    return json.dumps(v) if kind in ("M", "L") else str(v)
