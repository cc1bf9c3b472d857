"""What `app.create_app` wires into the Flask app, read back through typed accessors.

``canary_store(app)``, ``credential_cipher(app)``, ``replay_guard(app)`` and ``health_model(app)``
(``app`` defaults to the current app) instead of string keys: a missing piece is a clear
`RuntimeError`, never a ``KeyError`` or a silent ``None``. The replay guard is part of the wiring
and cannot be left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask import Flask, current_app

from integrations.replay import ReplayGuard
from scoring import HealthModel, default_model, load_model
from store.crypto import CredentialCipher
from store.db import Store

KEY = "canary"


@dataclass(frozen=True)
class CanaryWiring:
    store: Store
    cipher: CredentialCipher
    replay_guard: ReplayGuard
    """Every signed panel request and install state is checked against it; there is no switch-off."""


def init_app(app: Flask, wiring: CanaryWiring) -> None:
    if wiring.replay_guard is None:  # typed as required; refuse an untyped caller's None as well
        raise RuntimeError("no replay guard: the app cannot run without replay protection")
    app.extensions[KEY] = wiring


def wiring(app: Flask | None = None) -> CanaryWiring:
    target = app if app is not None else current_app
    found = target.extensions.get(KEY)
    if not isinstance(found, CanaryWiring):
        raise RuntimeError("the app is not wired (no store, cipher and replay guard): create it with "
                           "app.create_app")
    return found


def canary_store(app: Flask | None = None) -> Store:
    return wiring(app).store


def credential_cipher(app: Flask | None = None) -> CredentialCipher:
    return wiring(app).cipher


def replay_guard(app: Flask | None = None) -> ReplayGuard:
    return wiring(app).replay_guard


def health_model(app: Flask | None = None) -> HealthModel:
    """The app's health model (``HEALTH_MODEL``, else the shipped one): its ``signals`` name the product's
    onboarding milestones and key features for everything that classifies usage (the collector too)."""
    target = app if app is not None else current_app
    path = target.config.get("HEALTH_MODEL")
    return _model_at(str(path)) if path else default_model()


@lru_cache(maxsize=8)
def _model_at(path: str) -> HealthModel:
    return load_model(path)
