"""A Lambda function URL served locally (HTTPS on 127.0.0.1): the unsubscribe endpoint.

Each request becomes the event Lambda gives a function URL's handler (payload format 2.0:
``requestContext.http``, ``rawPath``, ``rawQueryString``, lower-cased ``headers``, ``body``,
``isBase64Encoded``), the function's own handler runs in-process, and its response
(``statusCode``, ``headers``, ``body``) goes back as it is, like on AWS. The server uses the
stack's local CA (``stack.json``'s ``ca_file``), so links of marketing mail are ``https`` as in
a deployment. Bodies are capped (:data:`MAX_BODY_BYTES`, like the 6 MB of Lambda, smaller).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import ssl
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shopmail_local.stack.lambda_runtime import Handler, LambdaContext

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


def function_url_event(
    method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str = "127.0.0.1"
) -> dict[str, Any]:
    """The function URL event (payload 2.0) for one HTTP request."""
    url = urllib.parse.urlsplit(target)
    text_body: str | None = None
    encoded = False
    if body:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, encoded = base64.b64encode(body).decode("ascii"), True
    now = dt.datetime.now(dt.UTC)
    lowered = {k.lower(): v for k, v in headers.items()}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": lowered,
        "queryStringParameters": dict(urllib.parse.parse_qsl(url.query)) or None,
        "requestContext": {
            "accountId": "anonymous",
            "domainName": lowered.get("host", ""),
            "http": {
                "method": method,
                "path": url.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": text_body,
        "isBase64Encoded": encoded,
    }


class FunctionUrlServer:
    """Serve one handler at ``https://host:port/`` (``start``/``stop``).

    Parameters
    ----------
    handler
        The function's handler ``(event, context) -> response``.
    function_name, function_arn, timeout
        For the Lambda context.
    tls
        The server's TLS context (the local certificates).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        function_name: str,
        function_arn: str,
        timeout: float = 10.0,
        host: str = "127.0.0.1",
        port: int = 8026,
        tls: ssl.SSLContext | None = None,
        on_request: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    ) -> None:
        self.handler = handler
        self.function_name = function_name
        self.function_arn = function_arn
        self.timeout = timeout
        self.host = host
        self.port = port
        self.tls = tls
        self.on_request = on_request
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The function URL."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/"

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run the handler on ``event``; a crash is Lambda's 502 ``Internal Server Error``."""
        context = LambdaContext(
            function_name=self.function_name,
            invoked_function_arn=self.function_arn,
            timeout_seconds=self.timeout,
        )
        try:
            result = self.handler(json.loads(json.dumps(event)), context)
        except Exception:
            log.exception("%s failed", self.function_name)
            return {"statusCode": 502, "body": "Internal Server Error"}
        if not isinstance(result, dict) or "statusCode" not in result:
            return {"statusCode": 200, "body": json.dumps(result)}
        return result

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Request(BaseHTTPRequestHandler):
            server_version = "shopmail-local-function-url"
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("function url: " + format, *args)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self.send_error(413, "body too large")
                    return
                body = self.rfile.read(length) if length else b""
                event = function_url_event(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    body,
                    self.client_address[0],
                )
                response = server.invoke(event)
                if server.on_request is not None:
                    server.on_request(event, response)
                payload = response.get("body") or ""
                data = (
                    base64.b64decode(payload)
                    if response.get("isBase64Encoded")
                    else str(payload).encode("utf-8")
                )
                self.send_response(int(response.get("statusCode", 200)))
                for name, value in (response.get("headers") or {}).items():
                    self.send_header(str(name), str(value))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_HEAD(self) -> None:
                self._serve()

            def do_PUT(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

        return _Request

    def start(self) -> None:
        """Listen and serve in a daemon thread."""
        httpd = ThreadingHTTPServer((self.host, self.port), self._make_handler())
        httpd.daemon_threads = True
        if self.tls is not None:
            httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True)
        self._server = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="function-url", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
