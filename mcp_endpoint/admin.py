"""API keys in the admin: create (the key shown once), list, revoke. The secret is never
stored, so no page can show it again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from compliance.models import AwsAccount
from compliance.permissions import Action, may
from compliance.reads.incident import lockdown_state
from compliance.writes.keys import check_key_request, do_create_api_key, do_revoke_api_keys
from compliance.writes.lockdown import do_set_lockdown
from compliance.writes.refusals import ActionError
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
        user = self.fields.get("user")
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
    change_list_template = "admin/mcp_endpoint/apikey/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "revoke-all/",
                self.admin_site.admin_view(self.revoke_all_view),
                name="mcp_endpoint_apikey_revoke_all",
            ),
            path(
                "lockdown/",
                self.admin_site.admin_view(self.lockdown_view),
                name="mcp_endpoint_apikey_lockdown",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "lockdown": lockdown_state(),
            "lockdown_setting": settings.MCP_LOCKDOWN,
            "can_respond": self._may_respond(request),
        }
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _may_respond(request: HttpRequest) -> bool:
        """Incident response is for those who may revoke keys and switch the lockdown (the
        rule set's ``MANAGE_KEYS`` and ``LOCKDOWN``; the writes check each again)."""
        return may(request.user, Action.MANAGE_KEYS) and may(request.user, Action.LOCKDOWN)

    def _confirm(
        self, request: HttpRequest, title: str, question: str, button: str, **extra: Any
    ) -> HttpResponse:
        return TemplateResponse(
            request,
            "admin/mcp_endpoint/apikey/confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "question": question,
                "button": button,
                "opts": self.model._meta,
                "list_url": reverse("admin:mcp_endpoint_apikey_changelist"),
                **extra,
            },
        )

    def revoke_all_view(self, request: HttpRequest) -> HttpResponse:
        """One click and a confirmation: every key stops working at once."""
        if not self._may_respond(request):
            raise PermissionDenied
        if request.method == "POST":
            try:
                revoked = do_revoke_api_keys(
                    revoke_all=True, acting=request.user, interface="admin"
                )
            except ActionError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request, f"Revoked all {len(revoked)} active key(s).", messages.SUCCESS
                )
            return HttpResponseRedirect(reverse("admin:mcp_endpoint_apikey_changelist"))
        active = ApiKey.objects.filter(revoked_at__isnull=True).count()
        return self._confirm(
            request,
            "Revoke all API keys",
            f"Revoke all {active} active API key(s)? Every MCP client stops working until it "
            "gets a new key. This cannot be undone.",
            "Yes, revoke all keys",
        )

    def lockdown_view(self, request: HttpRequest) -> HttpResponse:
        """Turns the MCP lockdown on or off (the form says which), after a confirmation."""
        if not self._may_respond(request):
            raise PermissionDenied
        state = lockdown_state()
        if request.method == "POST":
            enable = request.POST.get("enable") == "on"
            try:
                do_set_lockdown(
                    enable,
                    reason=request.POST.get("reason", ""),
                    acting=request.user,
                    interface="admin",
                )
            except ActionError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    "MCP lockdown ON: every MCP call is refused."
                    if enable
                    else "MCP lockdown OFF (database flag).",
                    messages.WARNING if enable else messages.SUCCESS,
                )
            return HttpResponseRedirect(reverse("admin:mcp_endpoint_apikey_changelist"))
        enable = not state.enabled
        return self._confirm(
            request,
            "Lock down the MCP endpoint" if enable else "End the MCP lockdown",
            "Refuse every MCP call (HTTP and stdio) until the lockdown is ended? The dashboard "
            "and this admin keep working."
            if enable
            else "Let MCP calls through again?",
            "Yes, lock down" if enable else "Yes, end the lockdown",
            enable="on" if enable else "off",
            with_reason=True,
        )

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

    #: What a key's own page shows: everything about it except its hash. The page is read-only
    #: (a key is never edited), so these are all the fields it has.
    key_page_fields = (
        "prefix",
        "name",
        "user",
        "scope_list",
        "accounts",
        "status",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_from",
        "revoked_at",
    )

    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        """The creation form for a new key; an existing key's page is read-only and gets a
        plain form with no fields, since the creation form's fields are not the key's."""
        if obj is not None:
            kwargs["form"] = forms.ModelForm
            kwargs["fields"] = []
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return self.key_page_fields if obj is not None else super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return self.key_page_fields if obj is not None else ()

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
        prefixes = queryset.filter(revoked_at__isnull=True).values_list("prefix", flat=True)
        try:
            revoked = [
                revoked_prefix
                for prefix in prefixes
                for revoked_prefix in do_revoke_api_keys(
                    prefix=prefix, acting=request.user, interface="admin"
                )
            ]
        except ActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Revoked {len(revoked)} key(s).", messages.SUCCESS)
