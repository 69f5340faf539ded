"""API keys in the admin: create (the key shown once), list, revoke. The secret is never
stored, so no page can show it again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from compliance.actions import ActionError
from compliance.models import AwsAccount
from mcp_endpoint.actions import check_key_request, do_create_api_key, do_revoke_api_keys
from mcp_endpoint.models import ApiKey


class ApiKeyCreateForm(forms.ModelForm[ApiKey]):
    scope_choices = forms.MultipleChoiceField(
        label="Scopes",
        choices=ApiKey.Scope.choices,
        initial=[ApiKey.Scope.READ],
        widget=forms.CheckboxSelectMultiple,
    )
    expires_in_days = forms.IntegerField(min_value=1)
    accounts = forms.ModelMultipleChoiceField(
        queryset=AwsAccount.objects.all(),
        required=False,
        help_text="Narrow the key to these accounts; empty: every account its user may see.",
    )

    class Meta:
        model = ApiKey
        fields = ["user", "name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        maximum = settings.API_KEY_MAX_AGE_DAYS
        days = self.fields["expires_in_days"]
        days.initial = maximum
        days.help_text = f"At most {maximum} (API_KEY_MAX_AGE_DAYS)."
        user = self.fields["user"]
        if isinstance(user, forms.ModelChoiceField):
            user.queryset = get_user_model().objects.filter(is_active=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            check_key_request(
                data["user"],
                data["name"],
                data["scope_choices"],
                data["expires_in_days"],
                [a.account_id for a in data["accounts"]],
            )
        except ActionError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    form = ApiKeyCreateForm
    list_display = [
        "prefix",
        "name",
        "user",
        "scope_list",
        "last_used_at",
        "last_used_from",
        "expires_at",
        "status",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name", "user__username"]
    actions = ["revoke_selected"]

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description="Status")
    def status(self, obj: ApiKey) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        if not obj.is_usable():
            return "expired"
        return "expires soon" if obj.expires_soon() else "active"

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # keys are created and revoked, never edited

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the row (and its audit trail) stays

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        data = form.cleaned_data
        key, raw = do_create_api_key(
            user=data["user"],
            name=data["name"],
            scopes=data["scope_choices"],
            expires_in_days=data["expires_in_days"],
            account_ids=[a.account_id for a in data["accounts"]],
            acting=request.user,
            interface="admin",
        )
        obj.pk = key.pk
        request._new_api_key = (key, raw)  # type: ignore[attr-defined]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # do_create_api_key has set the accounts, after checking them

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        key, raw = request._new_api_key  # type: ignore[attr-defined]
        response = TemplateResponse(
            request,
            "admin/mcp_endpoint/apikey_created.html",
            {
                **self.admin_site.each_context(request),
                "key": key,
                "raw_key": raw,
                "list_url": reverse("admin:mcp_endpoint_apikey_changelist"),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected keys")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = [
            prefix
            for prefix in queryset.filter(revoked_at__isnull=True).values_list("prefix", flat=True)
            for prefix in do_revoke_api_keys(prefix=prefix, acting=request.user, interface="admin")
        ]
        self.message_user(request, f"Revoked {len(revoked)} key(s).", messages.SUCCESS)
