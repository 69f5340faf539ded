"""What every tool shares: its declaration, input building blocks, paging and errors.

Tool inputs are pydantic models that forbid unknown fields: the same model publishes the JSON
schema (``tools/list``) and validates the call, so the schema an assistant reads is the one it
is held to.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from django.core import signing
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, WithJsonSchema

from compliance import reads
from compliance.aws import RESOURCE_TYPES
from compliance.core import costs
from compliance.core.policy import VIOLATION_TYPES
from compliance.permissions import Action
from compliance.permissions.accounts import Viewer
from compliance.permissions.rules import RULES
from compliance.reads.resources import ResourceFilter

MAX_LIMIT = 500
CURSOR_SALT = "mcp_endpoint.tools.cursor"


class ToolFailure(Exception):
    """A refusal or failure whose message is safe and useful to show the assistant."""


class ToolInput(ArgModelBase):
    """Base of every tool's input: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    #: List fields whose order means something. Every other list a tool takes is a filter (a
    #: set of accounts, regions, types, tag keys): its order and repeats change nothing.
    ORDERED_FIELDS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any]) -> Self:
        """The call's arguments validated as the JSON they arrived as, strictly: ``"1"`` or
        ``true`` is not an integer and ``"yes"`` not a boolean, as the published schema says.
        Validating as JSON keeps what JSON can only spell as a string (a date) accepted."""
        return cls.model_validate_json(json.dumps(arguments), strict=True)

    def canonical(self) -> dict[str, Any]:
        """The call's meaning, spelled one way: defaults filled in (an omitted argument equals
        its default), filter lists sorted without repeats; keys are sorted when serialised.
        Two calls asking the same thing compare equal, whatever their spelling."""
        data = self.model_dump(mode="json")
        for name, value in data.items():
            if isinstance(value, list) and name not in self.ORDERED_FIELDS:
                unique = {json.dumps(item, sort_keys=True): item for item in value}
                data[name] = [unique[text] for text in sorted(unique)]
        return data


def _known_type(value: str) -> str:
    if value not in RESOURCE_TYPES:
        raise ValueError(f"unknown resource type {value!r}; supported: {', '.join(RESOURCE_TYPES)}")
    return value


def _known_violation_type(value: str) -> str:
    if value not in VIOLATION_TYPES:
        raise ValueError(f"unknown violation type {value!r}; one of: {', '.join(VIOLATION_TYPES)}")
    return value


AccountId = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$", max_length=32)]
ResourceTypeName = Annotated[
    str,
    AfterValidator(_known_type),
    WithJsonSchema({"type": "string", "enum": list(RESOURCE_TYPES)}),
]
ViolationTypeName = Annotated[
    str,
    AfterValidator(_known_violation_type),
    WithJsonSchema({"type": "string", "enum": list(VIOLATION_TYPES)}),
]
#: AWS's own character set for tag keys and values (letters, separators, digits and
#: ``_ . : / = + - @``), so control, format and invisible characters never reach a query.
TAG_CHARACTERS = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]"
TagKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=f"^{TAG_CHARACTERS}+$")
]
TagValue = Annotated[str, StringConstraints(max_length=256, pattern=f"^{TAG_CHARACTERS}*$")]
Arn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:[^\x00-\x1f\x7f]*$", max_length=2048)
]


class FilterInput(ToolInput):
    account_ids: list[AccountId] = Field(
        default_factory=list,
        max_length=100,
        description="12-digit AWS account ids to narrow to; empty: every account you may see.",
    )
    regions: list[Region] = Field(
        default_factory=list, max_length=50, description="AWS regions, e.g. eu-west-1."
    )
    resource_types: list[ResourceTypeName] = Field(
        default_factory=list,
        max_length=50,
        description="Resource types as service:type, e.g. ec2:instance, s3:bucket.",
    )

    def resource_filter(self) -> ResourceFilter:
        return ResourceFilter(
            account_ids=tuple(self.account_ids),
            regions=tuple(self.regions),
            resource_types=tuple(self.resource_types),
        )


class PageInput(ToolInput):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="Items per page (1-500).")
    cursor: str | None = Field(
        None,
        max_length=1024,
        description="next_cursor of the previous page, unchanged; omit for the first page.",
    )


class PagedInput(PageInput, FilterInput):
    pass


InputT = TypeVar("InputT", bound=ToolInput)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The caller as a tool sees it: whom to filter for, and how to name the interface."""

    viewer: Viewer
    interface: str
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class ToolSpec(Generic[InputT]):
    name: str
    description: str
    input_model: type[InputT]
    handler: Callable[[ToolCall, InputT], dict[str, Any]]
    #: What a call does, in the one rule set's words: the caller's role must allow it and the
    #: credential must hold its scope (``compliance.permissions.rules``).
    action: Action = Action.VIEW
    read_only: bool = True

    @property
    def scope(self) -> str:
        """The credential scope a call needs (``read`` or ``scan``)."""
        scope = RULES[self.action].scope
        if scope is None:
            raise ValueError(f"{self.name}: {self.action} is never allowed through a credential")
        return scope


# --- paging ----------------------------------------------------------------------------------


def _query_fingerprint(tool: str, params: ToolInput) -> str:
    """The query a cursor belongs to, as loop detection sees it (:meth:`ToolInput.canonical`):
    the next page of the same question, spelled another way, is still the next page."""
    query = {k: v for k, v in params.canonical().items() if k not in {"limit", "cursor"}}
    text = json.dumps([tool, query], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def page_offset(tool: str, params: PageInput) -> int:
    """The offset a cursor stands for; the cursor is signed, so it cannot be forged or moved
    to another query."""
    if params.cursor is None:
        return 0
    try:
        data = signing.loads(params.cursor, salt=CURSOR_SALT)
    except signing.BadSignature:
        raise ToolFailure(
            "cursor: not a cursor this server issued; omit it to start from the first page"
        ) from None
    if not isinstance(data, dict) or data.get("q") != _query_fingerprint(tool, params):
        raise ToolFailure(
            "cursor: it belongs to a different query; pass the same filters as the call that "
            "returned it, or omit it to start again"
        )
    offset = data.get("o")
    if not isinstance(offset, int) or offset < 0:
        raise ToolFailure("cursor: malformed; omit it to start from the first page")
    return offset


def next_cursor(tool: str, params: PageInput, offset: int, has_more: bool) -> str | None:
    if not has_more:
        return None
    data = {"q": _query_fingerprint(tool, params), "o": offset + params.limit}
    return signing.dumps(data, salt=CURSOR_SALT, compress=True)


# --- values ----------------------------------------------------------------------------------


def money(amount: Decimal | None) -> str | None:
    """Amounts to the cent as decimal strings ("139.64"), exactly as the report writes them:
    a JSON float could not promise the cents."""
    return None if amount is None else str(costs.to_cents(amount))


def scan_of(viewer: Viewer) -> dict[str, Any] | None:
    return reads.scan_block(reads.latest_scan(), viewer)
