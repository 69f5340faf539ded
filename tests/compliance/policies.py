"""Small policies for tests, in the tagging_policy.json format (the contract format 2)."""

from __future__ import annotations

import json

TEST_POLICY = json.dumps(
    {
        "version": "1.0",
        "required_tags": [
            {
                "name": "Owner",
                "description": "Who answers for the resource",
                "allowed_values": None,
                "validation_regex": r"^[a-z]+@example\.com$",
                "applies_to": None,
            },
            {
                "name": "Environment",
                "description": "Lifecycle stage",
                "allowed_values": ["production", "staging"],
                "validation_regex": None,
                "applies_to": None,
            },
            {
                "name": "Project",
                "description": "Only instances carry a project",
                "allowed_values": None,
                "validation_regex": None,
                "applies_to": ["ec2:instance"],
            },
        ],
        "optional_tags": [{"name": "Name", "description": "Display name"}],
        "tag_naming_rules": {},
    }
)

BROKEN_REGEX_POLICY = json.dumps(
    {
        "version": "1.0",
        "required_tags": [
            {"name": "Owner", "description": "", "validation_regex": "([a-z", "applies_to": None}
        ],
    }
)
