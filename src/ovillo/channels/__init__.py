"""WhatsApp numbers (channels) of a workspace and the webhooks Meta sends about them."""

from __future__ import annotations
