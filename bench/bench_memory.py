"""Peak memory (``ru_maxrss``) of the inbound and outbound handlers on their largest work.

The offline stack (``shopmail_local``: moto over HTTP with every resource of ``template.yaml``,
the SES relay emulator with STARTTLS + AUTH) runs in this process; each measurement is a fresh
interpreter that imports the handler with its function's environment from the template, runs
one invocation and reports its own peak resident size (``VmHWM``, else ``ru_maxrss``; the
whole process: interpreter, boto3, the work), as Lambda's "Max Memory Used" counts the
whole runtime process:

- ``inbound_40mb``: a ~40 MB message with a ~40 MB attachment (``bench_parse.big_message``) in
  the raw-mail bucket and its SES receipt event for ``returns@`` (parse, route, store the
  attachment, publish);
- ``outbound_batch_10_invoices``: an SQS batch of 10 ``InvoiceIssued`` events, each with its own
  PDF of ``PDF_BYTES`` in the invoice bucket (render, fetch, build, send through the relay);
  ``outbound_batch_10_invoices_at_limit`` the same with PDFs of the fetcher's limit
  (``MAX_ATTACHMENT_BYTES``, 10 MiB);
- ``baseline_import_boto3``: a fresh interpreter that only imports boto3 (for scale).

The template's ``MemorySize`` values are chosen from these figures (``docs/operations.md``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LAYER_SRC = REPO / "layers" / "shopmail"
PDF_BYTES = 512 * 1024
BATCH = 10
TIMEOUT_S = 300

# Runs in the child. argv: app path, event file. Prints the result and the peak (KiB).
_PEAK = r"""
import resource

def peak_kib():
    # VmHWM: the high-water mark of this process's own memory; ru_maxrss would also count the
    # parent's, which Linux carries over a fork + exec
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""
_CHILD = (
    _PEAK
    + r"""
import importlib.util, json, sys
app_path, event_file = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("bench_app", app_path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
event = json.loads(open(event_file, encoding="utf-8").read())
result = module.handle(event, module._service())
print(json.dumps({"maxrss_kib": peak_kib(), "result": result}, default=str))
"""
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child(app: Path, event: dict[str, Any], env: dict[str, str], tmp: Path) -> dict[str, Any]:
    event_file = tmp / f"event-{uuid.uuid4().hex}.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(app.parent), str(LAYER_SRC), str(REPO)])
    full_env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(app), str(event_file)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(app.parent),
        timeout=TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{app.parent.name} run failed: {' | '.join(tail)}")
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"peak_rss_mb": round(found["maxrss_kib"] / 1024, 1), "result": found["result"]}


def _baseline(tmp: Path) -> float:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _PEAK + "import boto3\nprint(peak_kib())",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
        cwd=str(tmp),
    )
    return round(int(proc.stdout.strip()) / 1024, 1)


def _inbound_event(stack: Any, tmp: Path) -> tuple[dict[str, Any], dict[str, str]]:
    from shopmail.domain.message import Verdicts

    from bench.bench_parse import big_message
    from shopmail_local.stack.ses_inbound import build_ses_event

    out = stack.outputs
    fn = out.functions["InboundFunction"]
    rule = next(r for r in out.receipt_rules if r.lambda_actions and r.s3_actions)
    domain = str(out.parameters.get("MailDomain", "shop.example"))
    message_id = f"bench{uuid.uuid4().hex}"
    raw = big_message()
    action = rule.s3_actions[0]
    stack.client("s3").put_object(Bucket=action.bucket, Key=action.prefix + message_id, Body=raw)
    event = build_ses_event(
        raw=raw,
        mail_from="customer@example.com",
        rule_recipients=[f"returns@{domain}"],
        message_id=message_id,
        verdicts=Verdicts(spam="PASS", virus="PASS", spf="PASS", dkim="PASS", dmarc="PASS"),
        function_arn=rule.lambda_actions[0].function_arn,
    )
    return event, {**stack._shared_env, **fn.environment}


def _outbound_event(stack: Any, pdf_bytes: int) -> tuple[dict[str, Any], dict[str, str]]:
    from shopmail_local.stack.plumbing import sqs_event

    out = stack.outputs
    fn = out.functions["OutboundFunction"]
    env = {**stack._shared_env, **fn.environment}
    bucket = env.get("INVOICE_BUCKET") or str(out.outputs.get("InvoiceBucketName", ""))
    prefix = env.get("INVOICE_KEY_PREFIX", "invoices/")
    template = json.loads((REPO / "events" / "outbound" / "InvoiceIssued.json").read_text("utf-8"))
    pdf = b"%PDF-1.4\n" + os.urandom(pdf_bytes - 16) + b"\n%%EOF\n"
    run = uuid.uuid4().hex[:8]
    s3 = stack.client("s3")
    messages = []
    for number in range(BATCH):
        event = json.loads(json.dumps(template))
        detail = event["detail"]
        detail["order"]["id"] = f"ORD-{900000 + number}"
        detail["invoice"]["number"] = f"RE-{run}-{number:04d}"
        key = f"{prefix}bench-{run}-{number}.pdf"
        detail["invoice"]["pdf"].update({"bucket": bucket, "key": key})
        s3.put_object(Bucket=bucket, Key=key, Body=pdf)
        event["id"] = str(uuid.uuid4())
        messages.append(
            {
                "MessageId": str(uuid.uuid4()),
                "ReceiptHandle": uuid.uuid4().hex,
                "Body": json.dumps(event),
                "Attributes": {"ApproximateReceiveCount": "1"},
            }
        )
    arn = f"arn:aws:sqs:{out.region}:{out.account_id}:outbound"
    return sqs_event(messages, arn, out.region), env


def main() -> dict[str, Any]:
    """Start the offline stack, run each measurement in a fresh process, return the peaks."""
    try:
        from shopmail_local.stack.runner import LocalStack, RunConfig
    except ImportError as exc:  # pragma: no cover - the dev environment has moto
        return {"status": "skipped", "reason": f"offline stack not importable: {exc}"}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        config = RunConfig(
            state_dir=tmp / "state",
            moto_port=_free_port(),
            inbound_port=_free_port(),
            relay_port=_free_port(),
            web_port=_free_port(),
            unsubscribe_port=_free_port(),
            start_web=False,
            start_pollers=False,
            persist=False,
        )
        saved = dict(os.environ)
        stack = LocalStack(config).start()
        try:
            result: dict[str, Any] = {"status": "ok", "batch": BATCH}
            result["baseline_import_boto3_mb"] = _baseline(tmp)
            event, env = _inbound_event(stack, tmp)
            result["inbound_40mb"] = _child(REPO / "functions/inbound/app.py", event, env, tmp)
            from shopmail.adapters.s3_attachments import MAX_ATTACHMENT_BYTES

            outbound = REPO / "functions/outbound/app.py"
            for key, size in (
                ("outbound_batch_10_invoices", PDF_BYTES),
                ("outbound_batch_10_invoices_at_limit", MAX_ATTACHMENT_BYTES),
            ):
                event, env = _outbound_event(stack, size)
                result[key] = {"pdf_bytes": size, **_child(outbound, event, env, tmp)}
        finally:
            stack.stop()
            os.environ.clear()
            os.environ.update(saved)
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
