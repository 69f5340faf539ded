"""Admin pages of the checklist: results (read-only history) and attestations (through the
audited action). Registered from ``compliance.admin``, which imports this module last."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from compliance.admin import CreatedThroughActionAdmin, ReadOnlyAdmin
from compliance.checklist.evaluation import latest_run
from compliance.checklist.items import ITEMS, ITEMS_BY_ID
from compliance.models import Attestation, ChecklistResult
from compliance.writes.checklist import do_attest_checklist_item
from compliance.writes.refusals import ActionError


class LatestRunFilter(admin.SimpleListFilter):
    """Opens on the latest run: the page answers "what holds right now"."""

    title = "run"
    parameter_name = "run"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("all", "All runs (history)")]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Latest run",
        }
        yield from list(super().choices(changelist))[1:]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "all":
            return queryset
        run = latest_run()
        return queryset.filter(run=run) if run else queryset.none()


@admin.register(ChecklistResult)
class ChecklistResultAdmin(ReadOnlyAdmin):
    list_display = [
        "item_id",
        "section",
        "title",
        "required",
        "status",
        "evidence",
        "checked_at",
        "attest",
    ]
    list_filter = [LatestRunFilter, "status", "section", "required", "kind"]
    search_fields = ["item_id", "title", "evidence"]
    ordering = ["-run_id", "id"]

    @admin.display(description="")
    def attest(self, obj: ChecklistResult) -> str:
        item = ITEMS_BY_ID.get(obj.item_id)
        if item is None or not item.attestable:
            return ""
        url = reverse("admin:compliance_attestation_add") + f"?item_id={obj.item_id}"
        return format_html('<a href="{}">Attest</a>', url)


class AttestationForm(forms.ModelForm[Attestation]):
    """Creates the attestation through ``do_attest_checklist_item`` while validating, so its
    refusals show as form errors and are audited."""

    link = forms.URLField(required=False, max_length=500, assume_scheme="https")
    item_id = forms.ChoiceField(
        label="Item", choices=[(i.id, f"{i.id}: {i.title}") for i in ITEMS if i.attestable]
    )

    class Meta:
        model = Attestation
        fields = ["item_id", "evidence", "link", "expires_at"]
        help_texts = {
            "link": "Required for incident response items: the runbook, list or test record.",
            "expires_at": "Required; at most one year ahead.",
        }

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.created: Attestation | None = None
        if "item_id" in request.GET:
            self.fields["item_id"].initial = request.GET["item_id"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            self.created = do_attest_checklist_item(
                data["item_id"],
                evidence=data.get("evidence") or "",
                link=data.get("link") or "",
                expires_at=data["expires_at"],
                acting=self.request.user,
                interface="admin",
            )
        except ActionError as exc:
            raise forms.ValidationError(f"Refused, nothing was recorded: {exc}") from None
        return data


@admin.register(Attestation)
class AttestationAdmin(CreatedThroughActionAdmin):
    """Attestations are never edited or deleted: a new one supersedes, the history stays."""

    form = AttestationForm
    list_display = ["item_id", "attested_by_label", "evidence", "link", "created_at", "expires_at"]
    list_filter = ["item_id"]
    search_fields = ["item_id", "evidence"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Attestation, form: Any, change: bool) -> None:
        created = form.created
        obj.pk = created.pk
        obj.created_at = created.created_at
        obj.attested_by = created.attested_by
        obj.attested_by_label = created.attested_by_label
