"""Markdown tables, the one renderer of the package (the theory tasks' table.md and the
plot CLI's approximation table)."""

__all__ = ["markdown_table"]


def markdown_table(header, rows):
    """A GitHub Markdown table: `header` a list of column titles, `rows` lists of cells
    (anything `str()` renders), one line each."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)
