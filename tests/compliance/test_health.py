from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_liveness_and_readiness_answer_without_data(client) -> None:
    live = client.get("/health/live")
    ready = client.get("/health/ready")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})


@pytest.mark.django_db
def test_dashboard_requires_sign_in(client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
