"""Helpers for the API tests: a client per person, authenticated with a bearer token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from kesu.cases.models import ApprovalStep, Attachment, Case, CaseEvent, FollowUp, IdempotencyRecord, Proposal
from kesu.org.models import ApiToken

BASE = "/api/v1"


class Api:
    """A Django test client speaking JSON with one person's bearer token."""

    def __init__(self, user, scopes: list[str] | None = None):
        self.user = user
        self.token, self.key = ApiToken.issue(user, f"test-{user.username}", scopes=scopes)
        self.client = Client()

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def get(self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        return self.client.get(BASE + path, params or {}, headers=self._headers(headers))

    def post(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ):
        data = raw if raw is not None else json.dumps(body if body is not None else {}, ensure_ascii=False)
        return self.client.post(
            BASE + path, data=data, content_type="application/json", headers=self._headers(headers)
        )

    def upload(self, path: str, files: dict[str, Any], data: dict[str, Any] | None = None):
        return self.client.post(BASE + path, {**(data or {}), **files}, headers=self._headers(None))

    def act(self, number: str, action: str, body: dict[str, Any] | None = None, expect: int = 200):
        response = self.post(f"/cases/{number}/{action}", body or {})
        assert response.status_code == expect, (action, response.status_code, response.content.decode())
        return response.json()


def db_state(case: Case | None = None) -> dict[str, Any]:
    """Counts of everything a case action could write, plus the case's version and status."""
    state: dict[str, Any] = {
        "cases": Case.objects.count(),
        "events": CaseEvent.objects.count(),
        "proposals": Proposal.objects.count(),
        "steps": ApprovalStep.objects.count(),
        "follow_ups": FollowUp.objects.count(),
        "attachments": Attachment.objects.count(),
        "idempotency": IdempotencyRecord.objects.count(),
    }
    if case is not None:
        fresh = Case.objects.get(pk=case.pk)
        state.update(version=fresh.version, status=fresh.status, level=fresh.level)
    return state


@pytest.fixture
def media(settings, tmp_path):
    """Attachments go to a temporary MEDIA_ROOT; returns the attachments directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media" / "attachments"


def stored_files(directory) -> list:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def walk_to(api, org, status: str, **case_overrides: Any) -> Case:
    """A case registered by the intake agent and driven through the API to `status`."""
    from tests import factories

    case = factories.make_case(org.intake, **case_overrides)
    intake, handler = api(org.intake), api(org.handler)
    steps = [
        ("accepted", intake, "accept", {}),
        ("assigned", intake, "assign", {"handler": "handler"}),
        ("investigating", handler, "start_investigation", {}),
        (
            "pending_approval",
            handler,
            "propose_remedy",
            {"remedy_type": "compensation", "amount": "5000", "description": "赔偿损失"},
        ),
    ]
    for reached, client, action, body in steps:
        client.act(case.number, action, body)
        if reached == status:
            break
    case.refresh_from_db()
    assert case.status == status
    return case
