"""Rows of results (dicts) that show as an HTML table in a notebook and save as CSV; no widget or pandas needed."""
from __future__ import annotations

import csv
import io

import numpy as np

from ._html import text


def _plain(v) -> str:
    return f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v)


def _cell(v) -> str:
    return text(_plain(v))


class Table(list):
    """A list of dict rows; columns are the union of the rows' keys, in first-seen order."""

    @property
    def columns(self) -> list[str]:
        """Column names in first-seen order."""
        return list(dict.fromkeys(k for r in self for k in r))

    def to_html(self) -> str:
        """An HTML table (floats to 3 decimals)."""
        if not self:
            return ""
        cols = self.columns
        head = "".join(f"<th>{text(k)}</th>" for k in cols)
        body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(k, ''))}</td>" for k in cols) + "</tr>" for r in self)
        return f"<table class='explorer-table'><tr>{head}</tr>{body}</table>"

    _repr_html_ = to_html

    def to_text(self) -> str:
        """Aligned plain-text columns (floats to 3 decimals): what `print(table)` shows."""
        if not self:
            return ""
        cols = self.columns
        grid = [cols] + [[_plain(r.get(k, "")) for k in cols] for r in self]
        widths = [max(len(row[i]) for row in grid) for i in range(len(cols))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)).rstrip() for row in grid]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __str__ = to_text

    def to_csv(self, path=None) -> str:
        """CSV text at full precision; also written to path when given."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in self)
        if path is not None:
            with open(path, "w", newline="") as f:
                f.write(buf.getvalue())
        return buf.getvalue()
