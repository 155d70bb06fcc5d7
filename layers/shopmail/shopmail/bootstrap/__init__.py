"""Composition: the one floor that knows both services and adapters.

Handlers (and local tools) go settings -> bootstrap -> service -> result::

    service = inbound_service(Settings.from_env())
    result = service.handle_event(event)

``clients.py`` makes AWS clients (one endpoint setting, created on first use),
``dead_letters.py`` the one dead-letter fallback, ``relay.py`` the one relay credentials path;
``inbound.py``, ``outbound.py`` and ``feedback.py`` compose the three use cases. No adapter
imports a service; only this package plugs them together.
"""
