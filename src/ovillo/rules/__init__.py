"""Meta's WhatsApp policies as pure functions over plain data.

No I/O, no clock reads: time is always an argument (conventions.md, "Rules are pure").
"""

from __future__ import annotations
