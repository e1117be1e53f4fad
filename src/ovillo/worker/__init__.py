"""The runtime that claims and runs background work: leases, pipelines, the scheduler."""

from __future__ import annotations
