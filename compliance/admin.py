"""Django admin: accounts, policies, access grants, exemptions and allocation rules (editable
through actions, so audited); scans, resources, allocation versions and the audit log
(read-only, even for superusers)."""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from compliance import reads
from compliance.aws import RESOURCE_TYPES
from compliance.core.costs import to_cents
from compliance.models import (
    AccountAccess,
    AllocationRule,
    AllocationVersion,
    AuditEvent,
    AwsAccount,
    Exemption,
    Resource,
    Scan,
    ScanPartition,
    SharedCostRule,
    TaggingPolicy,
    Violation,
)
from compliance.permissions import Action, may
from compliance.permissions.roles import Role, role_of
from compliance.reads.allocation import rule_of, rule_problems, shared_rule_problems
from compliance.writes.accounts import ACCOUNT_ID_PATTERN, do_add_account
from compliance.writes.allocation import (
    AllocationRuleError,
    do_delete_allocation_rule,
    do_delete_shared_cost_rule,
    do_save_allocation_rule,
    do_save_shared_cost_rule,
)
from compliance.writes.exemptions import do_create_exemption, do_remove_exemption
from compliance.writes.grants import do_grant_account_access, do_revoke_account_access
from compliance.writes.policy import do_import_policy
from compliance.writes.refusals import (
    ActionError,
    NotPermitted,
    require,
    validate_regions,
)
from compliance.writes.scans import do_start_scan
from compliance.writes.users import do_change_role

MAX_POLICY_BYTES = 1_000_000


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RequestFormAdmin(admin.ModelAdmin[Any]):
    """For rows a write saves (audited) from the form itself: the form gets the request to act
    as its user."""

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class RequestForm(form_class):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, request=request, **inner)

        return RequestForm


class CreatedThroughActionAdmin(RequestFormAdmin):
    """For rows an action creates (audited) from the form itself; rows are never edited
    afterwards (a new one supersedes)."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AwsAccountForm(forms.ModelForm[AwsAccount]):
    regions_text = forms.CharField(
        label="Regions",
        required=False,
        help_text="Comma-separated, e.g. us-east-1,eu-west-1. Empty: every enabled region.",
    )

    class Meta:
        model = AwsAccount
        fields = ["account_id", "name", "role_arn", "external_id", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["regions_text"].initial = ",".join(self.instance.regions)

    def clean_account_id(self) -> str:
        account_id = str(self.cleaned_data["account_id"])
        if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
            raise forms.ValidationError("An AWS account id is 12 digits (0-9).")
        return account_id

    def clean_regions_text(self) -> list[str]:
        raw = self.cleaned_data["regions_text"].split(",")
        try:
            return validate_regions([r.strip() for r in raw if r.strip()])
        except ActionError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("external_id") and not data.get("role_arn"):
            self.add_error("external_id", "Only meaningful with a role ARN.")
        return data


@admin.register(AwsAccount)
class AwsAccountAdmin(admin.ModelAdmin[AwsAccount]):
    form = AwsAccountForm
    list_display = ["account_id", "name", "role_arn", "regions", "enabled", "created_at"]
    search_fields = ["account_id", "name"]
    actions = ["scan_selected"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """An account is switched off (``enabled``), never deleted here: deleting it would
        take its resources, costs and history with it, outside any audited write."""
        return False

    def save_model(self, request: HttpRequest, obj: AwsAccount, form: Any, change: bool) -> None:
        # The form has validated everything do_add_account checks, so it does not refuse here.
        saved = do_add_account(
            account_id=obj.account_id,
            name=obj.name,
            role_arn=obj.role_arn,
            external_id=obj.external_id,
            regions=form.cleaned_data["regions_text"],
            enabled=obj.enabled,
            acting=request.user,
            interface="admin",
        )
        obj.pk = saved.pk

    @admin.action(description="Scan the selected accounts now (queued for the task worker)")
    def scan_selected(self, request: HttpRequest, queryset: QuerySet[AwsAccount]) -> None:
        try:
            scan = do_start_scan(
                account_ids=list(queryset.values_list("account_id", flat=True)),
                acting=request.user,
                interface="admin",
            )
        except ActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Scan #{scan.pk} queued.", messages.SUCCESS)


class PolicyImportForm(forms.Form):
    document = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 20, "cols": 100}),
        required=False,
        help_text="Native JSON/YAML, tagging_policy.json or an AWS Organizations tag policy.",
    )
    upload = forms.FileField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("upload")
        if upload is not None:
            if upload.size > MAX_POLICY_BYTES:
                raise forms.ValidationError(f"The file is larger than {MAX_POLICY_BYTES} bytes.")
            try:
                data["document"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        if not data.get("document", "").strip():
            raise forms.ValidationError("Paste a policy or upload a file.")
        return data


@admin.register(TaggingPolicy)
class TaggingPolicyAdmin(ReadOnlyAdmin):
    list_display = ["version", "name", "source_format", "is_active", "created_at", "created_by"]
    readonly_fields = [
        "version",
        "name",
        "source_format",
        "is_active",
        "created_at",
        "created_by",
        "document",
        "source_text",
    ]
    change_list_template = "admin/compliance/taggingpolicy/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="compliance_taggingpolicy_import",
            ),
            *super().get_urls(),
        ]

    def has_import_permission(self, request: HttpRequest) -> bool:
        return may(request.user, Action.IMPORT_POLICY)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        try:
            require(request.user, Action.IMPORT_POLICY, interface="admin", target="admin")
        except NotPermitted as refusal:
            return HttpResponse(f"Forbidden: {refusal}", status=403, content_type="text/plain")
        form = PolicyImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                imported = do_import_policy(
                    form.cleaned_data["document"],
                    source="admin",
                    acting=request.user,
                    interface="admin",
                )
            except ActionError as exc:
                form.add_error(None, f"Refused, the active policy is unchanged: {exc}")
            else:
                self.message_user(request, f"Imported policy v{imported.version}; it is active.")
                return HttpResponseRedirect(reverse("admin:compliance_taggingpolicy_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a tagging policy",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/compliance/taggingpolicy/import.html", context)


class ReadOnlyInline(admin.TabularInline[Any, Any]):
    """Rows shown under their parent, never added, changed or deleted in the admin."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ScanPartitionInline(ReadOnlyInline):
    """A fanned-out scan's account x region tasks: who ran them, how far they got."""

    model = ScanPartition
    fields = readonly_fields = (
        "account_id",
        "region",
        "status",
        "jobs_done",
        "jobs",
        "resources_seen",
        "attempt",
        "worker",
        "started_at",
        "finished_at",
    )


@admin.register(Scan)
class ScanAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "status",
        "trigger",
        "requested_by",
        "started_at",
        "finished_at",
        "progress_done",
        "progress_total",
        "total_resources",
        "violation_count",
    ]
    list_filter = ["status", "trigger"]
    readonly_fields = [f.name for f in Scan._meta.fields]
    inlines = [ScanPartitionInline]


class ViolationInline(ReadOnlyInline):
    model = Violation
    fields = readonly_fields = (
        "violation_type",
        "tag_name",
        "current_value",
        "expected",
        "first_detected_at",
    )


@admin.register(Resource)
class ResourceAdmin(ReadOnlyAdmin):
    list_display = [
        "arn",
        "resource_type",
        "region",
        "account",
        "is_compliant",
        "violation_count",
        "last_seen_at",
        "gone_since",
    ]
    list_filter = ["resource_type", "region", "is_compliant", "account"]
    search_fields = ["arn", "name"]
    readonly_fields = [f.name for f in Resource._meta.fields]
    inlines = [ViolationInline]
    list_select_related = ["account"]
    show_full_result_count = False


class PostedKeyAutocompleteSelect(AutocompleteSelect):
    """The admin's search-as-you-type choice of a related row, re-shown after a refused form.

    Django looks the posted value up as it came to show it selected again; a value that cannot
    be a key of that table (``'; DROP TABLE x``, or an integer past the column's range) made the
    lookup raise, and the form answered 500 instead of showing its error. Such a value is shown
    as no choice."""

    def optgroups(self, name: str, value: Any, attr: Any = None) -> Any:
        target = self.field.target_field
        keys = []
        for item in value:
            try:
                target.run_validators(target.to_python(item))
            except ValidationError:
                continue
            keys.append(item)
        return super().optgroups(name, keys, attr)


@admin.register(AccountAccess)
class AccountAccessAdmin(admin.ModelAdmin[AccountAccess]):
    list_display = ["account", "user", "group", "created_at"]
    list_filter = ["account"]
    autocomplete_fields = ["account"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name in self.autocomplete_fields:
            kwargs["widget"] = PostedKeyAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: AccountAccess, form: Any, change: bool) -> None:
        do_grant_account_access(obj, acting=request.user)

    def delete_model(self, request: HttpRequest, obj: AccountAccess) -> None:
        do_revoke_account_access(obj, acting=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccountAccess]) -> None:
        for grant in queryset:
            self.delete_model(request, grant)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "event_type",
        "outcome",
        "actor_label",
        "interface",
        "target",
        "correlation_id",
        "client_address",
    ]
    list_filter = ["event_type", "outcome", "interface"]
    search_fields = ["actor_label", "target", "correlation_id"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    date_hierarchy = "occurred_at"

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


class ExemptionForm(forms.ModelForm[Exemption]):
    """Creates the exemption through ``do_create_exemption`` while validating, so the action's
    refusals (an account the admin cannot see, an expiry too far ahead) show as form errors and
    are audited like any other refusal."""

    resource_type = forms.ChoiceField(
        choices=[("", "(any type)"), *((t, t) for t in RESOURCE_TYPES)], required=False
    )

    class Meta:
        model = Exemption
        fields = [
            "resource_arn",
            "resource_type",
            "account",
            "tag_key",
            "reason",
            "owner",
            "expires_at",
        ]
        help_texts = {
            "resource_arn": "Leave the matchers you do not need empty; give at least one.",
            "tag_key": "A required tag of the active policy.",
            "expires_at": "Required; at most 365 days ahead.",
        }

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.created: Exemption | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        account = data.get("account")
        owner = data.get("owner")
        try:
            self.created = do_create_exemption(
                resource_arn=data.get("resource_arn") or "",
                resource_type=data.get("resource_type") or "",
                account_id=account.account_id if account else "",
                tag_key=data.get("tag_key") or "",
                reason=data.get("reason") or "",
                owner=owner.get_username() if owner else "",
                expires_at=data["expires_at"],
                acting=self.request.user,
                interface="admin",
            )
        except ActionError as exc:
            raise forms.ValidationError(f"Refused, nothing was created: {exc}") from None
        return data


class ExemptionStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(Exemption)
class ExemptionAdmin(CreatedThroughActionAdmin):
    """Exemptions are created and removed through the actions (audited), never edited: to
    change one, remove it and create another, so the audit log tells the whole story."""

    form = ExemptionForm
    list_display = [
        "id",
        "scope_label",
        "reason",
        "owner",
        "expires_at",
        "is_active_now",
        "created_by",
        "created_at",
    ]
    list_filter = [ExemptionStatusFilter, "resource_type", "account"]
    search_fields = ["resource_arn", "reason", "tag_key"]
    list_select_related = ["account", "owner"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Exemption]:
        return reads.exemptions(request.user, include_expired=True)

    @admin.display(boolean=True, description="active")
    def is_active_now(self, obj: Exemption) -> bool:
        return obj.is_active(timezone.now())

    def save_model(self, request: HttpRequest, obj: Exemption, form: Any, change: bool) -> None:
        # The form's validation created it through the action.
        created = form.created
        obj.pk = created.pk
        obj.created_at = created.created_at
        obj.created_by = created.created_by

    def delete_model(self, request: HttpRequest, obj: Exemption) -> None:
        try:
            do_remove_exemption(obj.pk, acting=request.user, interface="admin")
        except ActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Exemption]) -> None:
        for exemption in queryset:
            self.delete_model(request, exemption)


# --- allocation and shared-cost rules ---------------------------------------------------------


class ListText(forms.CharField):
    """A list typed as text, items separated by commas or line breaks (``[]`` when empty)."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 60})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(str(item) for item in value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]


class PercentagesText(forms.CharField):
    """Fixed shares typed one per line as ``value = percent`` (``{}`` when empty); a value may
    hold ``=``, the percent is after the last one."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, strip=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return "\n".join(f"{key} = {percent}" for key, percent in value.items())
        return value

    def to_python(self, value: Any) -> dict[str, str]:  # type: ignore[override]
        shares: dict[str, str] = {}
        for number, line in enumerate(str(value or "").splitlines(), start=1):
            if not line.strip():
                continue
            key, equals, percent = line.rpartition("=")
            if not equals or not key.strip():
                raise forms.ValidationError(f"line {number}: write value = percent")
            if key.strip() in shares:
                raise forms.ValidationError(f"line {number}: {key.strip()!r} is given twice")
            shares[key.strip()] = percent.strip()
        return shares


class AllocationRuleFormBase(forms.ModelForm[Any]):
    """Saves the rule through its write while validating, so the write's refusals (a problem
    of the rule, no permission) show on the form's fields and are audited like any refusal.
    With "Preview reach" (``_preview``) the rule is only checked, never saved."""

    #: The JSON fields of the rule and what an empty input means for each.
    EMPTY_JSON: dict[str, Any] = {}

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.previewing = PREVIEW in self.data
        self.version: AllocationVersion | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, empty in self.EMPTY_JSON.items():
            if data.get(name) is None and name in self.fields:
                data[name] = type(empty)()
        return data

    def problems(self) -> dict[str, str]:
        raise NotImplementedError

    def write(self) -> AllocationVersion:
        raise NotImplementedError

    def _post_clean(self) -> None:
        # The instance holds the form's values only once the model form's own cleaning ran
        # (a hook django-stubs does not declare).
        super()._post_clean()  # type: ignore[misc]
        if self.errors:
            return
        try:
            if self.previewing:
                self._show(self.problems())
            else:
                self.version = self.write()
        except AllocationRuleError as refused:
            self._show(refused.problems)
        except ActionError as refused:
            self.add_error(None, f"Refused, nothing was saved: {refused}")

    def _show(self, problems: dict[str, str]) -> None:
        for name, message in problems.items():
            self.add_error(name if name in self.fields else None, message)


class AllocationRuleForm(AllocationRuleFormBase):
    EMPTY_JSON = {"accounts": [], "regions": [], "services": [], "resource_types": []}
    accounts = ListText(help_text="Account ids, e.g. 123456789012, 210987654321; empty: any.")
    regions = ListText(help_text="e.g. eu-west-1, us-east-1; empty: any.")
    services = ListText(
        help_text="Services as the bill names them, e.g. Amazon EC2 (one per line, or "
        "separated by commas); empty: any."
    )
    resource_types = ListText(help_text="e.g. ec2:volume, ec2:snapshot; empty: any.")

    class Meta:
        model = AllocationRule
        fields = [
            "tag_key",
            "position",
            "name",
            "value",
            "related",
            "accounts",
            "regions",
            "services",
            "resource_types",
            "name_pattern",
            "arn_pattern",
            "enabled",
        ]
        labels = {"arn_pattern": "ARN pattern"}

    def problems(self) -> dict[str, str]:
        return rule_problems(self.instance)

    def write(self) -> AllocationVersion:
        return do_save_allocation_rule(self.instance, acting=self.request.user, interface="admin")


class SharedCostRuleForm(AllocationRuleFormBase):
    EMPTY_JSON = {"services": [], "charge_categories": [], "percentages": {}}
    percentages = PercentagesText(
        help_text="Fixed mode only: one value = percent per line (e.g. team-red = 60), adding "
        "up to exactly 100."
    )
    services = ListText(
        help_text="Services as the bill names them, e.g. AWS Support (Business); empty: any."
    )
    charge_categories = ListText(
        help_text="Tax, Usage, Purchase, Credit or Adjustment, separated by commas; empty: any."
    )

    class Meta:
        model = SharedCostRule
        fields = [
            "tag_key",
            "position",
            "name",
            "mode",
            "percentages",
            "services",
            "charge_categories",
            "enabled",
        ]

    def problems(self) -> dict[str, str]:
        return shared_rule_problems(self.instance)

    def write(self) -> AllocationVersion:
        return do_save_shared_cost_rule(self.instance, acting=self.request.user, interface="admin")


#: The submit button that previews a rule's reach instead of saving it.
PREVIEW = "_preview"


class AllocationRuleAdminBase(RequestFormAdmin):
    """The form's validation saved the rule through its write (a new allocation version, an
    audit row); deletion goes through the write too, one rule at a time."""

    list_filter = ["tag_key", "enabled"]
    search_fields = ["name", "tag_key"]
    ordering = ["tag_key", "position", "id"]
    readonly_fields = ["updated_by", "updated_at"]

    def delete_one(self, rule_id: int, request: HttpRequest) -> AllocationVersion:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Saved already, by the write the form's validation called."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        try:
            version = self.delete_one(obj.pk, request)
        except ActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Allocation version {version.version}: {version.change}")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for rule in queryset:
            self.delete_model(request, rule)


@admin.register(AllocationRule)
class AllocationRuleAdmin(AllocationRuleAdminBase):
    form = AllocationRuleForm
    list_display = ["tag_key", "position", "name", "value", "related", "enabled", "updated_by"]
    change_form_template = "admin/compliance/allocationrule/change_form.html"

    def delete_one(self, rule_id: int, request: HttpRequest) -> AllocationVersion:
        return do_delete_allocation_rule(rule_id, acting=request.user, interface="admin")

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST" and PREVIEW in request.POST:
            return self.preview_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def preview_view(
        self,
        request: HttpRequest,
        object_id: str | None,
        form_url: str,
        extra_context: dict[str, Any] | None,
    ) -> HttpResponse:
        """The change form as posted, not saved, with the rule's reach above it (the form's
        errors instead when the rule has problems)."""
        add = object_id is None
        obj = None if add else self.get_object(request, unquote(object_id or ""))
        if not add and obj is None:
            raise Http404("No such allocation rule.")
        allowed = (
            self.has_add_permission(request) if add else self.has_change_permission(request, obj)
        )
        if not allowed:
            raise PermissionDenied
        fieldsets = self.get_fieldsets(request, obj)
        form_class = self.get_form(
            request, obj, change=not add, fields=flatten_fieldsets(fieldsets)
        )
        form = form_class(request.POST, request.FILES, instance=obj)
        reach = self.reach(request, form.instance) if form.is_valid() else None
        admin_form = helpers.AdminForm(
            form,
            cast(Any, list(fieldsets)),
            self.get_prepopulated_fields(request, obj),
            self.get_readonly_fields(request, obj),
            model_admin=self,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Add' if add else 'Change'} {self.opts.verbose_name}",
            "subtitle": str(obj) if obj else None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "reach": reach,
            **(extra_context or {}),
        }
        return self.render_change_form(
            request, context, add=add, change=not add, obj=obj, form_url=form_url
        )

    def reach(self, request: HttpRequest, rule: AllocationRule) -> dict[str, Any]:
        """What the rule would give a value to, at its position, in the latest period."""
        from compliance.reads.showback import rule_reach  # the showback reads load the bill

        found = rule_reach(request.user, rule_of(rule), position=rule.position)
        return {
            "billing_period_start": found.billing_period_start,
            "charges": found.charges,
            "resources": found.resources,
            "spend": to_cents(found.spend),
            "taken_earlier_spend": to_cents(found.taken_earlier_spend),
            "sample": found.sample,
        }


@admin.register(SharedCostRule)
class SharedCostRuleAdmin(AllocationRuleAdminBase):
    form = SharedCostRuleForm
    list_display = ["tag_key", "position", "name", "mode", "enabled", "updated_by"]

    def delete_one(self, rule_id: int, request: HttpRequest) -> AllocationVersion:
        return do_delete_shared_cost_rule(rule_id, acting=request.user, interface="admin")


@admin.register(AllocationVersion)
class AllocationVersionAdmin(ReadOnlyAdmin):
    """Every state the rules were in, written by the writes: never added, changed or deleted."""

    list_display = ["version", "change", "created_by", "created_at"]
    readonly_fields = ["version", "change", "created_by", "created_at", "rules"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


# The checklist pages live beside the checklist; importing the module registers them.


class UserAdmin(DjangoUserAdmin[User]):
    """Django's user admin, bounded by the roles: only a superuser grants superuser status or
    single permissions; anyone else assigns roles (the role groups, nothing else), each change
    applied and audited through ``do_change_role`` (which keeps admin-site access with the
    admin role)."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "is_staff", "user_permissions"]
        return fields

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=[role.value for role in Role])
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        form.role_before = role_of(obj) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        after = role_of(user)
        before = getattr(form, "role_before", None)
        if after != before:
            do_change_role(user, after, before=before, acting=request.user)


admin.site.unregister(User)
admin.site.register(User, UserAdmin)

from compliance.checklist import admin as checklist_admin  # noqa: E402,F401
