"""A faithful emulator of Meta's WhatsApp Cloud API.

A separate ASGI app that behaves like the Cloud API as a client sees it: Graph API paths
under ``/v{N}.{M}/``, Meta's JSON and error codes, limits, signed webhooks with retries and
simulated customers, all on its own controllable clock. It uses ``cloudapi`` for shapes and
``rules`` for policy and never touches the platform's tables. Tests, demos and campaign
rehearsals run against it; a control API under ``/_emulator`` drives it.
"""

from __future__ import annotations
