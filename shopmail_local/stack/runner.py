"""Start and stop the whole offline stack (``shopmail run``).

Order: moto server -> provision from ``template.yaml`` -> local certificates -> handlers loaded
in-process with the template's environment -> SES-inbound emulator -> SES relay (its delivery
hook loops shop mail back, simulates the mailbox simulator, fills the outbox) -> SQS pollers
(event source mappings) -> function URL server (the unsubscribe endpoint, HTTPS) -> bus
observer -> web inbox. Everything binds to 127.0.0.1. The AWS credentials of a run are random
(moto accepts any) and written to ``stack.json``, where the CLI finds them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from shopmail_local.certs import server_tls_context
from shopmail_local.faults import FaultPlan, load_profile, patch_default_clients
from shopmail_local.stack.decisions import attach as attach_decisions
from shopmail_local.stack.lambda_runtime import AsyncInvoker, AsyncOutcome, Handler, load_handler
from shopmail_local.stack.plumbing import Observer, QueuePoller, replay_dead_letters
from shopmail_local.stack.provision import (
    FunctionSpec,
    StackOutputs,
    local_credentials,
    provision_template,
)
from shopmail_local.stack.relay_delivery import RelayDelivery
from shopmail_local.stack.release import ReleaseTarget
from shopmail_local.stack.ses_inbound import (
    MAX_MESSAGE_SIZE,
    Delivery,
    SesInbound,
    SesInboundServer,
)
from shopmail_local.stack.snapshot import (
    SnapshotSummary,
    read_manifest,
    remove_snapshot,
    restore_snapshot,
    take_snapshot,
)
from shopmail_local.stack.stack_file import (
    read_stack_file,
    update_stack_file,
    write_stack_file,
)
from shopmail_local.stack.state import StateStore

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


@dataclass
class RunConfig:
    """Ports, folders and template of the local stack (defaults: ``make run``)."""

    state_dir: Path = REPO / ".local"
    template: Path = REPO / "template.yaml"
    moto_port: int = 4566
    inbound_port: int = 2525
    relay_port: int = 2587
    web_port: int = 8025
    unsubscribe_port: int = 8026
    region: str = "eu-west-1"
    stack_name: str = "shopmail-local"
    parameters: dict[str, str] = field(default_factory=dict)
    max_message_size: int = MAX_MESSAGE_SIZE
    retry_delays: tuple[float, ...] = (0.5, 1.0)
    start_web: bool = True
    start_pollers: bool = True
    reset: bool = False
    persist: bool = True
    release: ReleaseTarget | None = None
    #: Gather SQS batches within the mappings' batching windows, as Lambda does (bench).
    batching_windows: bool = False
    #: A fault profile (``shopmail run --faults``: a shipped name or a ``.toml`` file).
    faults: str = "none"
    fault_seed: int = 0


class StateFolderInUseError(OSError):
    """Another running stack uses the same state folder."""


def _client(service: str, endpoint: str, region: str, credentials: tuple[str, str]) -> Any:
    make: Any = boto3.client
    return make(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
    )


def check_ports_free(ports: dict[str, int], host: str = HOST) -> None:
    """Raise ``OSError`` naming the first port a listener holds (before anything starts).

    The probe binds with ``SO_REUSEADDR``, as the servers themselves do: connections left in
    TIME-WAIT by the previous run (browser reloads, boto3 clients) do not block a restart,
    while a port another process listens on still does.
    """
    for name, port in ports.items():
        if not port:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
                s.listen(1)
            except OSError as exc:
                raise OSError(f"{name} port {host}:{port} is in use") from exc


_check_ports_free = check_ports_free  # the name the stack used before


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class LocalStack:
    """The running offline stack; :meth:`start` then :meth:`stop` (or use as a context)."""

    def __init__(self, config: RunConfig | None = None) -> None:
        self.config = config or RunConfig()
        self.endpoint = f"http://{HOST}:{self.config.moto_port}"
        self.outputs: StackOutputs | None = None
        self.state = StateStore(self.config.state_dir)
        self.handlers: dict[str, Handler] = {}
        self.handler_errors: dict[str, str] = {}
        self.invokers: dict[str, AsyncInvoker] = {}
        self.inbound: SesInbound | None = None
        self.ca_file = ""
        self._stoppers: list[Callable[[], None]] = []
        self._shared_env: dict[str, str] = {}
        self._lock = threading.Lock()
        self.generation = uuid.uuid4().hex
        self.credentials = local_credentials()
        self.function_url = f"https://{HOST}:{self.config.unsubscribe_port}/"
        self.started = False
        self.restored: SnapshotSummary | None = None
        self.state_note = ""
        self.fault_plan: FaultPlan | None = None

    # ------------------------------------------------------------------ helpers
    def client(self, service: str) -> Any:
        """A boto3 client bound to the stack's moto server."""
        return _client(service, self.endpoint, self.config.region, self.credentials)

    def _environment(self, out: StackOutputs) -> dict[str, str]:
        """Process-wide environment for the in-process handlers (and the CLI they call)."""
        env: dict[str, str] = {}
        for fn in out.functions.values():
            env.update(fn.environment)
        env.update(
            {
                "AWS_REGION": self.config.region,
                "AWS_DEFAULT_REGION": self.config.region,
                "AWS_ACCESS_KEY_ID": self.credentials[0],
                "AWS_SECRET_ACCESS_KEY": self.credentials[1],
                "AWS_ENDPOINT_URL": self.endpoint,
                "SMTP_HOST": HOST,
                "SMTP_PORT": str(self.config.relay_port),
                "SMTP_CA_FILE": self.ca_file,
                "SHOPMAIL_LOCAL_STATE": str(self.config.state_dir),
            }
        )
        env.pop("POWERTOOLS_SERVICE_NAME", None)
        return env

    def _load_handler(self, fn: FunctionSpec) -> Handler | None:
        code_dir = self.config.template.parent / fn.code_uri
        module_file = code_dir / (fn.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
        if not module_file.exists():
            self.handler_errors[fn.logical_id] = f"{module_file} not found (yet)"
            return None
        saved = {k: os.environ.get(k) for k in fn.environment}
        os.environ.update(fn.environment)  # import with this function's own settings
        try:
            return load_handler(code_dir, fn.handler)
        except Exception as exc:
            log.exception("cannot load %s", fn.logical_id)
            self.handler_errors[fn.logical_id] = f"{type(exc).__name__}: {exc}"
            return None
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            os.environ.update(self._shared_env)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalStack:
        """Start every component; raise if a port is taken or provisioning fails."""
        from moto.server import ThreadedMotoServer

        from shopmail_local.certs import ensure_certs

        cfg = self.config
        _check_ports_free(
            {
                "moto": cfg.moto_port,
                "inbound": cfg.inbound_port,
                "relay": cfg.relay_port,
                "web": cfg.web_port if cfg.start_web else 0,
                "unsubscribe": cfg.unsubscribe_port,
            }
        )
        profile = load_profile(cfg.faults)  # a bad profile fails before anything starts
        restore = self._prepare_state()
        saved_env = dict(os.environ)

        def restore_env() -> None:
            os.environ.clear()
            os.environ.update(saved_env)

        self._stoppers.append(restore_env)
        moto = ThreadedMotoServer(ip_address=HOST, port=cfg.moto_port, verbose=False)
        moto.start()
        self._stoppers.append(moto.stop)
        # moto's backends are process-global: start from a clean slate (matters in tests,
        # where another in-process moto server may have created resources already).
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        out = provision_template(
            cfg.template,
            self.endpoint,
            parameters=cfg.parameters,
            region=cfg.region,
            stack_name=cfg.stack_name,
            credentials=self.credentials,
            function_url=self.function_url,
        )
        self.outputs = out
        if restore:
            self.restored = restore_snapshot(self.client, cfg.state_dir)
        if cfg.persist:
            self._stoppers.append(self._stop_state)
        certs = ensure_certs(cfg.state_dir / "certs")
        self.ca_file = str(certs.ca_file)
        self._shared_env = self._environment(out)
        os.environ.update(self._shared_env)
        if not profile.empty:  # the functions' AWS clients and the relay inject its faults
            self.fault_plan = FaultPlan(profile, cfg.fault_seed)
            self._stoppers.append(patch_default_clients(self.fault_plan))

        wanted = {a.function_logical_id for r in out.receipt_rules for a in r.lambda_actions}
        wanted |= {k for k, f in out.functions.items() if f.sqs_sources}
        wanted |= set(out.function_urls)
        for logical in sorted(wanted):
            handler = self._load_handler(out.functions[logical])
            if handler is not None:
                self.handlers[logical] = handler

        self._stoppers.append(attach_decisions(self.state.log_inbound))
        self._start_inbound(out, certs.cert_file, certs.key_file)
        self._start_relay(out, certs.cert_file, certs.key_file)
        if cfg.start_pollers:
            self._start_pollers(out)
        self._start_function_urls(out, certs.cert_file, certs.key_file)
        self._start_observer(out)
        if cfg.start_web:
            from shopmail_local.stack.webinbox import WebInbox

            web = WebInbox(self, host=HOST, port=cfg.web_port)
            web.start()
            self._stoppers.append(web.stop)
        self.started = True
        if cfg.persist:
            write_stack_file(cfg.state_dir, self.stack_info())
        return self

    # ------------------------------------------------------------------ state across restarts
    def _prepare_state(self) -> bool:
        """Decide what the state folder keeps; return whether to restore moto's snapshot.

        A clean stop leaves ``stack.json`` with ``status: stopped`` and a snapshot of the same
        generation: everything is kept. ``--reset``, an unclean stop (crash, ``kill -9``: no
        matching snapshot) or a state folder from before snapshots existed clears the mail,
        the logs and the snapshot together, so the pages never disagree.
        """
        cfg = self.config
        if not cfg.persist:
            return False
        previous = read_stack_file(cfg.state_dir)
        if (
            previous is not None
            and previous.is_running()  # its process exists and its moto port answers
            and int(previous.get("pid") or 0) != os.getpid()
        ):
            raise StateFolderInUseError(
                f"state folder {cfg.state_dir} is used by a running stack "
                f"(pid {previous.get('pid')}); stop it first or pass another --state"
            )
        manifest = read_manifest(cfg.state_dir)
        clean = (
            previous is not None
            and previous.status == "stopped"
            and manifest is not None
            and manifest.get("generation") == previous.get("generation")
        )
        if cfg.reset:
            why = "reset (--reset)"
        elif clean:
            return True
        elif self.state.is_empty() and manifest is None:
            return False
        elif previous is None:
            why = "reset: the kept mail had no saved AWS data (state from an older version)"
        else:
            why = "reset: the previous run did not stop cleanly, its AWS data was lost"
        self.state.clear()
        remove_snapshot(cfg.state_dir)
        self.state_note = why
        log.info("state folder %s", why)
        return False

    def _stop_state(self) -> None:
        """Snapshot moto (everything else has stopped) and mark the stack file stopped."""
        if not self.started:
            return
        try:
            take_snapshot(
                self.client,
                self.config.state_dir,
                self.generation,
                skip_queues=frozenset({Observer.QUEUE_NAME}),
            )
        except Exception:
            log.exception("saving moto's data failed: the next start resets the state")
            update_stack_file(self.config.state_dir, status="crashed", stopped_at=time.time())
            return
        update_stack_file(self.config.state_dir, status="stopped", stopped_at=time.time())

    def stack_info(self) -> dict[str, Any]:
        """The content of ``stack.json`` for this run (see ``stack_file.py``)."""
        out = self.outputs
        cfg = self.config
        outputs = {k: v for k, v in (out.outputs if out else {}).items() if isinstance(v, str)}
        restored = self.restored
        return {
            "status": "running",
            "pid": os.getpid(),
            "generation": self.generation,
            "started_at": time.time(),
            "endpoint": self.endpoint,
            "region": cfg.region,
            "aws_access_key_id": self.credentials[0],
            "aws_secret_access_key": self.credentials[1],
            "host": HOST,
            "ports": {
                "moto": cfg.moto_port,
                "inbound": cfg.inbound_port,
                "relay": cfg.relay_port,
                "web": cfg.web_port if cfg.start_web else 0,
                "unsubscribe": cfg.unsubscribe_port if out and out.function_urls else 0,
            },
            "web_url": f"http://{HOST}:{cfg.web_port}" if cfg.start_web else "",
            "unsubscribe_url": self.function_url if out and out.function_urls else "",
            "ca_file": self.ca_file,
            "state_dir": str(cfg.state_dir),
            "mail_domain": str(out.parameters.get("MailDomain", "")) if out else "",
            "bus": self._shared_env.get("SHOP_EVENT_BUS_NAME", "shop"),
            "outputs": outputs,
            "tables": dict(out.tables) if out else {},
            "queues": dict(out.queues) if out else {},
            "dead_letter_queues": dict(out.dead_letter_queues) if out else {},
            "environment": dict(self._shared_env),
            "snapshot": {
                "restored": restored.counts if restored else {},
                "skipped": restored.skipped if restored else {},
                "note": self.state_note,
            },
            "faults": {"profile": cfg.faults, "seed": cfg.fault_seed},
        }

    def _start_inbound(self, out: StackOutputs, cert: Path, key: Path) -> None:
        sqs = self.client("sqs")
        for logical, handler in self.handlers.items():
            fn = out.functions[logical]
            if not any(
                a.function_logical_id == logical
                for r in out.receipt_rules
                for a in r.lambda_actions
            ):
                continue

            def send_to_dlq(record: dict[str, Any], url: str = fn.on_failure_url) -> None:
                if url:
                    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

            invoker = AsyncInvoker(
                handler,
                function_name=fn.name,
                function_arn=fn.arn,
                timeout_seconds=fn.timeout,
                memory=fn.memory,
                max_retries=fn.max_retry_attempts,
                retry_delays=self.config.retry_delays,
                on_failure=send_to_dlq,
                on_outcome=self._record_invocation,
            )
            self.invokers[fn.arn] = invoker
            self._stoppers.append(invoker.close)
        self.inbound = SesInbound(
            out.receipt_rules,
            self.client("s3"),
            self.invokers,
            max_size=self.config.max_message_size,
            on_delivery=self._record_delivery,
        )
        server = SesInboundServer(
            self.inbound,
            host=HOST,
            port=self.config.inbound_port,
            tls_context=server_tls_context(str(cert), str(key)),
        )
        server.start()
        self._stoppers.append(server.stop)

    def _start_relay(self, out: StackOutputs, cert: Path, key: Path) -> None:
        from shopmail_local.faults import RelayFaults
        from shopmail_local.stack.ses_relay import SesRelayServer, relay_credentials

        creds = out.smtp_credentials
        hook = RelayDelivery(
            self.state,
            self.inbound,
            self.client("events"),
            default_configuration_set=str(out.outputs.get("ConfigurationSetName", "")),
            account_id=out.account_id,
        )
        mail_domain = str(out.parameters.get("MailDomain", ""))
        relay = SesRelayServer(
            cert_file=cert,
            key_file=key,
            credentials=relay_credentials(
                creds.get("access_key_id", ""), creds.get("secret_access_key", ""), out.region
            ),
            port=self.config.relay_port,
            region=out.region,
            verified_identities=[mail_domain] if mail_domain else None,
            max_rate=_float_or_none(out.parameters.get("SmtpMaxSendRate")),
            on_message=hook,
            keep_messages=False,
            faults=RelayFaults(self.fault_plan) if self.fault_plan is not None else None,
        )
        relay.start()
        self._stoppers.append(relay.stop)

    def _start_pollers(self, out: StackOutputs) -> None:
        for logical, handler in self.handlers.items():
            fn = out.functions[logical]
            for source in fn.sqs_sources:
                poller = QueuePoller(
                    self.client("sqs"),
                    source,
                    fn,
                    handler,
                    region=out.region,
                    batching_window=self.config.batching_windows,
                )
                poller.start()
                self._stoppers.append(poller.stop)

    def _start_function_urls(self, out: StackOutputs, cert: Path, key: Path) -> None:
        from shopmail_local.stack.function_url import FunctionUrlServer

        for logical in out.function_urls:
            handler = self.handlers.get(logical)
            if handler is None:
                continue
            fn = out.functions[logical]
            server = FunctionUrlServer(
                handler,
                function_name=fn.name,
                function_arn=fn.arn,
                timeout=fn.timeout,
                host=HOST,
                port=self.config.unsubscribe_port,
                tls=server_tls_context(str(cert), str(key)),
            )
            server.start()
            self._stoppers.append(server.stop)

    def _start_observer(self, out: StackOutputs) -> None:
        buses = sorted(set(out.buses) | {"default"})

        def record(source: str, event: dict[str, Any]) -> None:
            self.state.log_event({"source": source, "event": event})

        observer = Observer(
            self.client("sqs"), self.client("events"), buses, out.account_id, record
        )
        observer.start()
        self._stoppers.append(observer.stop)

    def _record_delivery(self, delivery: Delivery) -> None:
        self.state.log_inbound(
            {
                "kind": "received",
                "message_id": delivery.message_id,
                "mail_from": delivery.mail_from,
                "recipients": delivery.recipients,
                "rules": delivery.rules,
                "s3_keys": delivery.s3_keys,
                "subject": delivery.subject,
                # the record keeps its shape: no DMARC policy is "" (not null)
                "verdicts": {
                    **asdict(delivery.verdicts),
                    "dmarc_policy": delivery.verdicts.dmarc_policy or "",
                },
                "header_message_id": delivery.header_message_id,
                "in_reply_to": delivery.in_reply_to,
                "references": delivery.references,
            }
        )

    def _record_invocation(self, event: Any, outcome: AsyncOutcome) -> None:
        try:
            mail = event["Records"][0]["ses"]["mail"]
            message_id = mail["messageId"]
        except (KeyError, IndexError, TypeError):
            message_id = ""
        self.state.log_inbound(
            {
                "kind": "invocation",
                "message_id": message_id,
                "request_id": outcome.request_id,
                "attempts": outcome.attempts,
                "ok": outcome.ok,
                "result": outcome.result,
                "error": outcome.error,
                "dead_lettered": outcome.dead_lettered,
            }
        )

    def stop(self) -> None:
        """Stop every component (reverse start order); never raises."""
        while self._stoppers:
            stop = self._stoppers.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", stop)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ operator actions
    def replay_dead_letter(self, queue_url: str) -> int:
        """Move every message of a dead-letter queue back where it came from; return the count.

        Redrive DLQs go back to their (first) source queue; the inbound function's on-failure
        queue re-invokes the function with the original request payload.
        """
        out = self.outputs
        if out is None:
            return 0
        inbound_fn = next(
            (f for f in out.functions.values() if f.on_failure_url == queue_url), None
        )
        invoker = self.invokers.get(inbound_fn.arn) if inbound_fn is not None else None
        return replay_dead_letters(
            self.client("sqs"),
            queue_url,
            out.redrive_sources.get(queue_url, []),
            reinvoke=invoker.invoke if invoker is not None else None,
        )

    def banner(self) -> str:
        """The addresses and three commands to try (printed by ``shopmail run``)."""
        out = self.outputs
        domain = out.parameters.get("MailDomain", "shop.example") if out else "shop.example"
        cfg = self.config
        lines = [
            "shopmail local stack is up (Ctrl-C stops it)",
            f"  web inbox        http://{HOST}:{cfg.web_port}",
            f"  AWS APIs (moto)  {self.endpoint}",
            f"  SES inbound      smtp://{HOST}:{cfg.inbound_port}  (STARTTLS offered; *@{domain})",
            f"  SES relay        smtp://{HOST}:{cfg.relay_port}  (STARTTLS + AUTH required)",
            f"  unsubscribe      {self.function_url}  (RFC 8058 one-click endpoint)",
            f"  CA certificate   {self.ca_file}",
            f"  state            {cfg.state_dir}  (reset with `shopmail run --reset`)",
        ]
        if self.state_note:
            lines.append(f"  state note       {self.state_note}")
        elif self.restored is not None:
            lines.append(
                f"  restored         {self.restored.total} item(s) of the last run's AWS data"
                + (f", skipped {sorted(self.restored.skipped)}" if self.restored.skipped else "")
            )
        if cfg.release is not None:
            lines.append(f"  release to       {cfg.release.label}")
        if self.fault_plan is not None:
            profile = self.fault_plan.profile
            lines.append(
                f"  faults           {profile.name} (seed {cfg.fault_seed}): {profile.description}"
            )
        if self.handler_errors:
            lines.append("  not running yet:")
            lines += [f"    {k}: {v}" for k, v in sorted(self.handler_errors.items())]
        lines += [
            "",
            "Try:",
            "  .venv/bin/shopmail send-event events/outbound/OrderPlaced.json",
            f"  .venv/bin/shopmail deliver events/inbound/order_reply.eml --to orders@{domain}",
            f"  open http://{HOST}:{cfg.web_port}",
        ]
        return "\n".join(lines)
