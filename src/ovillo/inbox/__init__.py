"""Conversations, messages, assignment and notes: the shared inbox's model and service."""

from __future__ import annotations
