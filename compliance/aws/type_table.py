"""The type table as people read it: ``docs/resource-types.md`` is this output, and a test keeps
the two equal."""

from __future__ import annotations

from compliance.aws.collectors import COLLECTORS, RESOURCE_TYPES
from compliance.aws.collectors.core import TagSource
from compliance.aws.session import SESSION_IAM_ACTIONS

_TAG_SOURCES = {
    TagSource.LISTED: "the list call",
    TagSource.TAGGING_API: "tagging API",
    TagSource.OWN_CALL: "own call per resource",
}


def resource_types_markdown() -> str:
    by_source = {
        source: sum(1 for c in COLLECTORS.values() if c.tags is source) for source in TagSource
    }
    lines = [
        "# Resource types",
        "",
        "<!-- Generated: python manage.py resource_types > docs/resource-types.md -->",
        "",
        f"A scan lists {len(RESOURCE_TYPES)} resource types, named as AWS tag policies and the "
        "Resource Groups Tagging API name them. Discovery always uses the service's own list "
        "call, so resources that were never tagged are found. Tags come from:",
        "",
        f"- **the list call** ({by_source[TagSource.LISTED]} types): the answer carries them;",
        f"- **the tagging API** ({by_source[TagSource.TAGGING_API]} types): "
        "`tag:GetResources`, asked for 100 discovered resources at a time by ARN; a resource "
        "it does not return has no tags;",
        f"- **an own call per resource** ({by_source[TagSource.OWN_CALL]} types): only where "
        "the tagging API does not cover the type.",
        "",
        "Global types are listed once per account; the others once per account and region. "
        "Every scan also calls " + ", ".join(f"`{a}`" for a in SESSION_IAM_ACTIONS) + ". The "
        "generated read-only IAM policy ([iam-policy.json](iam-policy.json)) holds every action "
        "below and nothing else.",
        "",
        "| Type | What | Listed by | Tags from | IAM actions | Scope |",
        "|---|---|---|---|---|---|",
    ]
    for name in RESOURCE_TYPES:
        collector = COLLECTORS[name]
        actions = "<br>".join(f"`{a}`" for a in sorted(collector.iam_actions))
        if collector.iam_resources:
            commercial = [r for r in collector.iam_resources if r.startswith("arn:aws:")]
            actions += " on " + ", ".join(f"`{r}`" for r in commercial) + " only"
        lines.append(
            f"| `{name}` | {collector.label} | `{collector.list_call}` | "
            f"{_TAG_SOURCES[collector.tags]} | {actions} | "
            f"{'global' if collector.is_global else 'regional'} |"
        )
    return "\n".join(lines) + "\n"
