"""Custom resource handler: activate/deactivate the stack's SES receipt rule set."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from shopmail.adapters.cfn_response import response_body, send_response
from shopmail.bootstrap.container import per_container
from shopmail.bootstrap.ruleset import receipt_rule_sets
from shopmail.services.ruleset_activation import handle_request

logger = Logger()


_rule_sets = per_container(receipt_rule_sets)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle one CloudFormation request and always send the response."""
    result = handle_request(event, _rule_sets())
    body = response_body(
        event, result.status, result.physical_resource_id, result.reason, result.data
    )
    send_response(event["ResponseURL"], body)
    return body
