"""The offline stack behind ``shopmail run``: moto, SES emulators, event plumbing, web inbox.

Everything here is local tooling (never shipped to Lambda). Resources are provisioned from
``template.yaml`` so the local stack cannot drift from what ``sam deploy`` creates.
"""
