"""The roles a person or a token acts in (issue 19, "who may do what"; ADR 0052).

They live in the domain because an account is opened with some of them and the rule
"roles from the list" is the account's; the API's guard and the token book take the
same tuple from here.
"""

from __future__ import annotations

#: A hall's kiosk: it reads its unit's subtree's board of warnings and nothing else.
SCREEN = "screen"

#: The roles of the issue's table, then the kiosk's; a token or an account carries one
#: or more of them.
ROLES = ("admin", "monitor", "duty_officer", "dispatcher", "handler", "auditor", SCREEN)

#: Roles that read everything, whatever their unit.
READ_EVERYTHING = frozenset({"auditor", "admin"})


def unknown_roles(roles: list[str]) -> list[str]:
    """The roles given that are not on the list, in the order given."""
    return [r for r in roles if r not in ROLES]
