"""Helpers every ``shopmail`` command shares.

- **Finding the stack**: ``shopmail run`` writes ``<state>/stack.json`` (state folder:
  ``--state``, else ``SHOPMAIL_LOCAL_STATE``, else ``.local/`` in the repository). Commands read
  the moto endpoint, ports, CA file and the run's credentials from it, so nothing has to be
  exported and no credentials are written in the code.
- **Where AWS calls go** (:func:`aws_target`): ``--endpoint``/``--endpoint-url``, else
  ``AWS_ENDPOINT_URL``, else (for commands that may also talk to AWS) real AWS when
  ``AWS_PROFILE`` or ``AWS_ACCESS_KEY_ID`` is set, else the local stack when its stack file
  exists (running or not: a stopped one gives "not running, start it"), else AWS with the
  default credential chain. Local targets get the stack's fake credentials.
- **One-line errors** (:func:`cli_errors`): expected conditions (the stack is down, a table or
  queue is missing, no credentials) print one line saying what is wrong and what to do, and the
  command exits non-zero; never a traceback.
- **A stack's outputs** (:func:`stack_outputs`): ``--stack NAME`` reads a deployed stack's
  ``Outputs`` with CloudFormation ``DescribeStacks`` (region and credentials from the usual
  AWS variables: ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_PROFILE``...); without it, the
  running local stack's ``stack.json`` gives the same outputs. :meth:`StackOutputs.settings`
  turns them into the layer's settings, so operator commands run the same use cases as the
  functions.
- **Files and events**: :func:`iter_files` (``FILE...|DIR`` arguments), :func:`load_shop_event`
  (render/preview), :func:`to_entry` (a PutEvents entry from an event file).
- **The shop's look** (:func:`shop_mail`): ``--shop-config FILE`` and ``--templates DIR``
  (else ``SHOP_CONFIG`` and ``TEMPLATES_LOCATION``; ``s3://``/``ssm:`` locations are read from
  the AWS target above), loaded once: render, preview and ``templates check`` show mail as the
  deployed functions would send it. :func:`load_route_table` reads a routes file the same way.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopmail.config import Settings, env_setting
from shopmail.domain.outbound.contracts import ShopEvent, validate, with_locale
from shopmail.errors import PermanentError, ShopmailError

from shopmail_local.stack.stack_file import StackFile, read_stack_file

if TYPE_CHECKING:
    from shopmail.bootstrap.clients import AwsClients
    from shopmail.bootstrap.shop import ShopMail
    from shopmail.domain.inbound.routing import RouteTable

REPO = Path(__file__).resolve().parents[2]
STATE_ENV = "SHOPMAIL_LOCAL_STATE"
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
DEFAULT_REGION = "eu-west-1"
START_HINT = "start the stack with `make run` (or `shopmail run`)"


class CommandError(PermanentError):
    """An expected failure of a command: one line (``reason``) plus what to do (``hint``).

    Parameters
    ----------
    reason
        What is wrong.
    hint
        What to do about it ('' when obvious).
    exit_code
        The command's exit status (default 1).
    """

    code = "command_failed"

    def __init__(self, reason: str, hint: str = "", exit_code: int = 1) -> None:
        super().__init__(reason)
        self.hint = hint
        self.exit_code = exit_code

    @property
    def line(self) -> str:
        """``reason; hint`` on one line."""
        text = f"{self.reason}; {self.hint}" if self.hint else self.reason
        return " ".join(text.split())


# ---------------------------------------------------------------------- the stack
def state_dir(explicit: str | Path | None = None) -> Path:
    """The state folder: ``explicit``, else ``SHOPMAIL_LOCAL_STATE``, else ``.local/``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(STATE_ENV)
    return Path(env) if env else REPO / ".local"


def find_stack(explicit_state: str | Path | None = None) -> StackFile | None:
    """The stack file of the state folder (running or not; ``None`` when there is none)."""
    return read_stack_file(state_dir(explicit_state))


def running_stack(explicit_state: str | Path | None = None) -> StackFile | None:
    """The stack file when that stack is running right now, else ``None``."""
    found = find_stack(explicit_state)
    return found if found is not None and found.is_running() else None


@dataclass(frozen=True)
class AwsTarget:
    """Where a command's AWS calls go.

    Attributes
    ----------
    endpoint
        The endpoint URL (``None``: AWS itself).
    region
        The region.
    local
        Whether this is a local moto server (fake credentials, "start the stack" hints).
    stack
        The local stack's file, when the target came from it.
    """

    endpoint: str | None
    region: str
    local: bool
    stack: StackFile | None = None

    @property
    def where(self) -> str:
        """``the local stack at URL`` / ``URL`` / ``AWS (region)`` for messages."""
        if self.stack is not None and self.endpoint:
            return f"the local stack at {self.endpoint}"
        return self.endpoint or f"AWS ({self.region})"

    def client(self, service: str) -> Any:
        """A boto3 client for this target (a local stack's credentials from its stack file;
        otherwise the environment's: ``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``...)."""
        import boto3

        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint:
            kwargs["endpoint_url"] = self.endpoint
        if self.local and not _env_credentials() and self.stack is not None:
            key, secret = self.stack.credentials  # the run's own (random) credentials
            if key and secret:
                kwargs["aws_access_key_id"] = key
                kwargs["aws_secret_access_key"] = secret
        make: Any = boto3.client
        return make(service, **kwargs)

    def require_reachable(self) -> None:
        """For a local target: raise :class:`CommandError` when nothing answers there."""
        if not self.local or not self.endpoint:
            return
        url = urllib.parse.urlsplit(self.endpoint)
        host, port = url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)
        if not port_open(host, port):
            raise CommandError(
                f"the local stack is not running (nothing answers at {self.endpoint})",
                START_HINT,
            )


def _env_credentials() -> bool:
    return bool(os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"))


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether ``host:port`` accepts a TCP connection."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def aws_target(
    endpoint: str | None = None,
    region: str | None = None,
    state: str | Path | None = None,
    *,
    local_only: bool = False,
) -> AwsTarget:
    """Where AWS calls go (see the module docs for the order).

    Parameters
    ----------
    endpoint
        An explicit ``--endpoint``/``--endpoint-url``.
    region
        An explicit ``--region``.
    state
        An explicit ``--state`` folder.
    local_only
        The command only makes sense against the local stack (``send-event``, ``demo``):
        without an endpoint it uses the stack file's, else the default local endpoint.
    """
    env_endpoint = env_setting("aws_endpoint_url") or None
    env_region = env_setting("region") or os.environ.get("AWS_DEFAULT_REGION")
    stack = find_stack(state)
    if endpoint or env_endpoint:
        url = str(endpoint or env_endpoint)
        same = stack is not None and stack.endpoint == url
        return AwsTarget(
            url,
            region or env_region or (stack.region if same and stack else DEFAULT_REGION),
            local=_looks_local(url),
            stack=stack if same else None,
        )
    if local_only:
        url = stack.endpoint if stack is not None and stack.endpoint else DEFAULT_ENDPOINT
        return AwsTarget(
            url,
            region or (stack.region if stack else None) or env_region or DEFAULT_REGION,
            local=True,
            stack=stack,
        )
    if not _env_credentials() and stack is not None and stack.endpoint:
        return AwsTarget(stack.endpoint, region or stack.region, local=True, stack=stack)
    return AwsTarget(None, region or env_region or DEFAULT_REGION, local=False)


def _looks_local(url: str) -> bool:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


# ---------------------------------------------------------------------- a stack's outputs
#: Settings field -> the template output that holds it.
OUTPUT_SETTINGS: dict[str, str] = {
    "mail_domain": "MailDomain",
    "raw_mail_bucket": "RawMailBucketName",
    "raw_mail_prefix": "RawMailPrefix",
    "attachments_prefix": "AttachmentsPrefix",
    "quarantine_prefix": "QuarantinePrefix",
    "event_bus_name": "ShopEventBusName",
    "idempotency_table": "IdempotencyTableName",
    "rate_limit_table": "RateLimitTableName",
    "suppression_table": "SuppressionTableName",
    "sent_mail_table": "SentMailTableName",
    "erasure_index_table": "ErasureIndexTableName",
    "inbound_dlq_url": "InboundDeadLetterQueueUrl",
    "outbound_dlq_url": "OutboundDeadLetterQueueUrl",
    "feedback_dlq_url": "FeedbackDeadLetterQueueUrl",
    "erasure_dlq_url": "ErasureDeadLetterQueueUrl",
}


@dataclass(frozen=True)
class StackOutputs:
    """The outputs of the stack a command works on, and where its AWS calls go.

    Attributes
    ----------
    target
        Where the calls go (the local moto server, or AWS).
    outputs
        The template's ``Outputs`` (``OutputKey -> OutputValue``).
    name
        The stack name (``local`` for the offline stack).
    """

    target: AwsTarget
    outputs: dict[str, str]
    name: str

    @classmethod
    def from_args(cls, args: Any) -> StackOutputs:
        """The stack the options of :func:`add_stack_arguments` name (see :func:`stack_outputs`).

        Raises
        ------
        CommandError
            The local stack is not running, or the deployed stack does not exist.
        """
        return stack_outputs(args.stack, args.region, args.state)

    @property
    def local(self) -> bool:
        """Whether this is the offline stack."""
        return self.target.local

    def output(self, key: str) -> str:
        """One output; :class:`CommandError` when the stack has none of that name."""
        value = self.outputs.get(key)
        if not value:
            raise CommandError(
                f"stack {self.name} has no output {key}",
                "deploy the current template.yaml (or restart the local stack)",
            )
        return value

    def settings(self) -> Settings:
        """The layer's settings for this stack (outputs it lacks keep their defaults)."""
        values: dict[str, Any] = {
            f: self.outputs[o] for f, o in OUTPUT_SETTINGS.items() if self.outputs.get(o)
        }
        return Settings(region=self.target.region, **values)

    def clients(self) -> Any:
        """:class:`shopmail.bootstrap.clients.AwsClients` bound to this stack's target."""
        from shopmail.bootstrap.clients import AwsClients

        return AwsClients(self.target.client)


def stack_outputs(
    stack: str | None,
    region: str | None = None,
    state: str | Path | None = None,
) -> StackOutputs:
    """The deployed stack ``stack`` (``DescribeStacks``), or the running local stack.

    Raises
    ------
    CommandError
        The local stack is not running, or the deployed stack does not exist.
    """
    if stack:
        env_region = env_setting("region") or os.environ.get("AWS_DEFAULT_REGION")
        endpoint = env_setting("aws_endpoint_url") or None
        target = AwsTarget(
            endpoint, region or env_region or DEFAULT_REGION, local=False, stack=None
        )
        try:
            found = target.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
        except Exception as exc:
            err = explain(exc, target)
            if err is not None and "does not exist" in err.reason:
                raise CommandError(
                    f"no stack {stack!r} in {target.where}", "check --stack and AWS_REGION"
                ) from exc
            raise
        outputs = {
            str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in found[0].get("Outputs", [])
        }
        return StackOutputs(target, outputs, stack)
    local = find_stack(state)
    if local is None or not local.is_running():
        raise CommandError(
            "the local stack is not running (and no --stack NAME was given)",
            f"{START_HINT}, or pass --stack NAME for a deployed stack",
        )
    outputs = {str(k): str(v) for k, v in (local.get("outputs") or {}).items()}
    target = AwsTarget(local.endpoint, region or local.region, local=True, stack=local)
    return StackOutputs(target, outputs, "local")


def add_stack_arguments(parser: Any) -> None:
    """``--stack``, ``--region`` and ``--state`` (see :func:`stack_outputs`)."""
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="a deployed stack (outputs from CloudFormation; region and credentials from "
        "AWS_REGION/AWS_PROFILE...); default: the running local stack",
    )
    parser.add_argument("--region", help="AWS region (default: AWS_REGION or the stack's)")
    parser.add_argument("--state", help="the local stack's state folder (default: .local)")


# ---------------------------------------------------------------------- one-line errors
def explain(exc: BaseException, target: AwsTarget | None = None) -> CommandError | None:
    """The one-line :class:`CommandError` for an expected AWS/network failure (else ``None``)."""
    from botocore import exceptions as bex

    where = target.where if target is not None else "AWS"
    local = target is not None and target.local
    if isinstance(exc, CommandError):
        return exc
    if isinstance(
        exc,
        (bex.EndpointConnectionError, bex.ConnectionClosedError, bex.ConnectTimeoutError),
    ):
        if local:
            return CommandError(f"cannot reach {where} (is the stack running?)", START_HINT)
        return CommandError(f"cannot reach {where}: {exc}", "check the network and the region")
    if isinstance(exc, bex.ReadTimeoutError):
        return CommandError(f"{where} did not answer in time", "try again")
    if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
        return CommandError(
            "no AWS credentials",
            f"{START_HINT} to use the local stack (found through its stack.json), "
            "or set AWS_PROFILE for AWS",
        )
    if isinstance(exc, bex.NoRegionError):
        return CommandError("no AWS region", "pass --region or set AWS_REGION")
    if isinstance(exc, bex.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = " ".join(str(err.get("Message", "")).split())[:200]
        op = getattr(exc, "operation_name", "")
        hint = (
            "the local stack provisions every resource of template.yaml at start; check the "
            "name (see `shopmail run`'s state file stack.json)"
            if local
            else "check the name and the region"
        )
        if code == "ResourceNotFoundException":
            return CommandError(f"{op}: not found in {where}: {message}", hint)
        if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return CommandError(f"{op}: the queue does not exist in {where}", hint)
        if code in ("NoSuchBucket", "NoSuchKey"):
            return CommandError(f"{op}: {code} in {where}: {message}", hint)
        if code in (
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "ExpiredToken",
            "AccessDenied",
            "AccessDeniedException",
        ):
            return CommandError(f"{op}: {code} from {where}: {message}", "check the credentials")
        return CommandError(f"{op}: {code} from {where}: {message}")
    return None


def cli_errors(
    prog: str, target: Callable[[Any], AwsTarget | None] | None = None
) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a command's ``run(args)``: expected failures print one line and exit non-zero.

    Parameters
    ----------
    prog
        The command's name for the message (``shopmail send-event``).
    target
        ``target(args)`` -> the :class:`AwsTarget` the command used (for the message).
    """

    def wrap(func: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(func)
        def run(args: Any, *more: Any, **kwargs: Any) -> int:
            try:
                return func(args, *more, **kwargs)
            except Exception as exc:
                try:
                    resolved = target(args) if target is not None else None
                except Exception:
                    resolved = None
                err = explain(exc, resolved)
                if err is None:
                    raise
                print(f"{prog}: error: {err.line}", file=sys.stderr)
                return err.exit_code

        return run

    return wrap


def _stack_target(args: Any) -> AwsTarget | None:
    try:
        return StackOutputs.from_args(args).target
    except CommandError:
        return None


def stack_cli_errors(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """:func:`cli_errors` for a command with :func:`add_stack_arguments` (its stack's target).

    Parameters
    ----------
    prog
        The command's name for the message (``shopmail dlq list``).
    """
    return cli_errors(prog, _stack_target)


# ---------------------------------------------------------------------- files and events
def iter_files(paths: Sequence[str], pattern: str = "*") -> Iterator[Path]:
    """Every file named, or found below a named folder matching ``pattern``.

    Folders are walked recursively in sorted order; hidden files and folders below a named
    folder are skipped. Named files are yielded as given (a missing one is the caller's error).
    """
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for found in sorted(path.rglob(pattern)):
                if found.is_file() and not any(
                    part.startswith(".") for part in found.relative_to(path).parts
                ):
                    yield found
        else:
            yield path


def load_shop_event(path: str, locale: str | None = None) -> ShopEvent | None:
    """Read and validate an EventBridge event file; print the reason and return ``None``.

    Accepts the full EventBridge envelope, or an SQS record / message whose ``body`` is one.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{path}: cannot read event: {exc}", file=sys.stderr)
        return None
    if isinstance(data, dict) and "detail-type" not in data and isinstance(data.get("body"), str):
        try:
            data = json.loads(data["body"])
        except ValueError as exc:
            print(f"{path}: SQS body is not JSON: {exc}", file=sys.stderr)
            return None
    try:
        event = validate(data)
        return with_locale(event, locale) if locale else event
    except ShopmailError as exc:
        print(f"{path}: {exc.code}: {exc.reason}", file=sys.stderr)
        return None


def to_entry(event: dict[str, Any], bus: str) -> dict[str, Any]:
    """A PutEvents entry from an event in either shape (EventBridge JSON or a PutEvents entry)."""
    if "DetailType" in event or "Source" in event:
        detail = event.get("Detail", {})
        return {
            "Source": event["Source"],
            "DetailType": event["DetailType"],
            "Detail": detail if isinstance(detail, str) else json.dumps(detail),
            "EventBusName": event.get("EventBusName", bus),
        }
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event.get("detail", {})),
        "EventBusName": bus,
        "Resources": list(event.get("resources") or []),
    }


# ---------------------------------------------------------------------- the shop's look
def _aws_clients() -> AwsClients:
    from shopmail.bootstrap.clients import AwsClients

    return AwsClients(lambda service: aws_target().client(service))


def shop_mail(
    shop_config: str | None = None, templates: str | None = None
) -> tuple[Settings, ShopMail]:
    """``(settings, ShopMail)`` for ``--shop-config``/``--templates`` (else the environment).

    The configuration is read on first use; call ``.shop()`` and ``.template_dir()`` to load
    it (a :class:`~shopmail.errors.ConfigurationError` says what is wrong).
    """
    from shopmail.bootstrap.shop import ShopMail

    overrides = {
        name: value
        for name, value in (("shop_config", shop_config), ("templates_location", templates))
        if value
    }
    settings = Settings.from_env(None, **overrides)
    return settings, ShopMail(settings, _aws_clients())


def read_config_text(location: str) -> tuple[str, str]:
    """``(text, source)`` of a configuration file: a path, ``s3://...`` or ``ssm:...``.

    Raises
    ------
    ShopmailError
        The file cannot be read (missing, access denied, ...).
    """
    from shopmail.bootstrap.remote_config import config_source
    from shopmail.domain.locations import parse_location

    where = parse_location(location)
    source = config_source(Settings.from_env(), _aws_clients())
    return source.read_text(where), str(where)


def load_route_table(location: str | None, mail_domain: str = "") -> RouteTable:
    """The routes of ``location`` (a path, ``s3://...`` or ``ssm:...``; ``None``: shipped).

    ``mail_domain``: forwards to it that the rules would forward again are refused (as the
    inbound function refuses them).

    Raises
    ------
    ShopmailError
        The file cannot be read, or a :class:`~shopmail.errors.RouteConfigError` naming every
        problem (the same checks as the inbound function's).
    """
    from shopmail.domain.inbound.routing import load_routes, parse_routes
    from shopmail.domain.locations import parse_location

    if location and parse_location(location).remote:
        return parse_routes(*read_config_text(location), mail_domain=mail_domain)
    return load_routes(location or None, mail_domain=mail_domain)


def add_command(
    subparsers: Any, name: str, help: str, description: str | None, *, wrap: bool = False
) -> Any:
    """Add the sub-command ``name`` and return its parser.

    Parameters
    ----------
    subparsers
        What ``ArgumentParser.add_subparsers`` returned.
    name, help
        The command's name and its line in ``shopmail --help``.
    description
        What ``shopmail NAME --help`` shows, usually the command module's docstring: its line
        breaks are kept, unless ``wrap`` (one paragraph, wrapped to the terminal).
    """
    formatter = argparse.HelpFormatter if wrap else argparse.RawDescriptionHelpFormatter
    return subparsers.add_parser(
        name, help=help, description=description, formatter_class=formatter
    )


def usage_of(parser: Any) -> Callable[[Any], int]:
    """A command's ``func`` for a group called without a sub-command: its help, exit 2."""

    def usage(args: Any) -> int:
        parser.print_help(sys.stderr)
        return 2

    return usage


def add_shop_options(parser: Any) -> None:
    """``--shop-config FILE`` and ``--templates DIR`` (render, preview, templates check)."""
    parser.add_argument(
        "--shop-config",
        metavar="FILE",
        help="shop configuration (TOML/JSON; s3://, ssm: too; default: SHOP_CONFIG)",
    )
    parser.add_argument(
        "--templates",
        metavar="DIR",
        help="template overrides laid over the shipped ones (default: TEMPLATES_LOCATION)",
    )
