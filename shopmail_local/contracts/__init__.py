"""The contracts of the events shopmail emits, as the shop's developers get them.

``events/schemas/emitted/<DetailType>.json`` (JSON Schema draft-07, one per detail-type, the
source of truth) -> :mod:`~shopmail_local.contracts.schemas` (load, check an event: the schema,
undeclared keys, camelCase) -> :mod:`~shopmail_local.contracts.registry` (the EventBridge schema
registry's draft-4 documents and their block in ``template.yaml``) and
:mod:`~shopmail_local.contracts.catalogue` (the event catalogue in ``README.md``). ``shopmail
schemas sync`` rewrites both generated blocks; tests check that they match the files.
"""
