"""The one escape for user text put into HTML (class, layer, method and file names, addresses, messages)."""
from __future__ import annotations

import html


def text(value) -> str:
    """Any value as inert HTML text, safe in element content and in quoted attributes: `<img onerror=..>` shows as
    itself and runs nothing."""
    return html.escape(str(value), quote=True)
