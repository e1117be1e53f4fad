"""Meta's Cloud API wire protocol: typed models, errors, signatures and an async client.

No database and no business rules live here; see design.md.
"""

from __future__ import annotations
