"""Accessibility checks by axe-core (vendored, tests/browser/vendor/, with its licence).

The pages' policy forbids inline scripts, so the checking context bypasses it
(``bypass_csp=True``) to inject axe; the page under test is otherwise the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
#: The impacts that fail a page (axe's "serious" and "critical").
FAILING = ("serious", "critical")


def violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical violations axe finds on ``page`` as it stands."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:5]],
        }
        for v in found
        if v.get("impact") in FAILING
    ]
