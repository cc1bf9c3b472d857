"""Zendesk Support API v2 emulator for the sandbox; see `sandbox.zendesk.emulator` for how to use it."""

from sandbox.zendesk.emulator import ZendeskEmulator

__all__ = ["ZendeskEmulator"]
