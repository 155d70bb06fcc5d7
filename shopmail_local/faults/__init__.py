"""Fault injection for the offline stack and the fault harness (``python -m bench.faults``).

* :mod:`.profiles`: fault profiles as data (``profiles/*.toml``: ``none``, ``ses-throttling``,
  ``relay-flaky``, ``aws-5xx``, ``chaos``);
* :mod:`.plan`: the seeded schedule that decides each injection and counts them;
* :mod:`.aws`: botocore hooks (throttling, 5xx, ``PutEvents`` partial failures);
* :mod:`.relay`: the SES-like relay's hook (SMTP replies, lost connections at every stage).
"""

from shopmail_local.faults.aws import faulty_factory, install, patch_default_clients
from shopmail_local.faults.plan import FaultPlan
from shopmail_local.faults.profiles import (
    AwsFault,
    DeliveryFaults,
    FaultProfile,
    ProfileError,
    RelayFault,
    load_profile,
    profile_names,
)
from shopmail_local.faults.relay import RelayFaults

__all__ = [
    "AwsFault",
    "DeliveryFaults",
    "FaultPlan",
    "FaultProfile",
    "ProfileError",
    "RelayFault",
    "RelayFaults",
    "faulty_factory",
    "install",
    "load_profile",
    "patch_default_clients",
    "profile_names",
]
