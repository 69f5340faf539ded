"""The demo's own write: its admin account, created (or its password reset) with an audit row."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from compliance import audit
from compliance.audit.events import EventType
from compliance.permissions import Operator


def do_create_demo_admin(username: str, password: str) -> AbstractBaseUser:
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        user.set_password(password)
        user.save()
        audit.record(
            EventType.DEMO_SEEDED,
            acting=Operator(label="demo"),
            target=f"user {username}",
            detail={"admin_created": created},
        )
    return user
