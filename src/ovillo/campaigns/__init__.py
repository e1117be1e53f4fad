"""Campaigns: an approved template sent to an audience, paced, exactly once per recipient."""
