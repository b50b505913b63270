"""Tables for papers: Markdown, LaTeX (booktabs) and CSV from one :class:`Table`.

A :class:`Table` keeps formatted cells (what Markdown/LaTeX show), a bold mask (best per column
and methods tied with it *by a test*, see :func:`results.best_ties`) and the raw numbers (what
the CSV holds, so no precision is lost to formatting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Table", "fmt", "fmt_pm", "to_csv", "to_latex", "to_markdown"]


def fmt(x: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals; NaN as an en dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def fmt_pm(mean: float, spread: float, digits: int = 2) -> str:
    """``mean ± spread`` (plain text; LaTeX output turns ``±`` into ``$\\pm$``)."""
    if math.isnan(mean):
        return "–"
    if math.isnan(spread):
        return fmt(mean, digits)
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


@dataclass
class Table:
    """One table.

    Attributes:
        title: caption.
        columns: header of each column (the first is usually the method).
        rows: formatted cells, ``len(rows[i]) == len(columns)``.
        bold: ``(n_rows, n_cols)`` bool, cells to typeset in bold.
        data: raw numbers for the CSV (one row per table row).
        groups: optional header row above ``columns``: ``(label, span)`` pairs covering all
            columns (e.g. a dataset over its validation and test columns).
        rules_before: row indices preceded by a rule (e.g. the optimum row).
        note: a footnote (how bold was decided, units, ...).
    """

    title: str
    columns: list[str]
    rows: list[list[str]]
    bold: np.ndarray = None  # type: ignore[assignment]  # filled by __post_init__
    data: pd.DataFrame | None = None
    groups: list[tuple[str, int]] | None = None
    rules_before: list[int] = field(default_factory=list)
    note: str = ""

    def __post_init__(self) -> None:
        for i, r in enumerate(self.rows):
            if len(r) != len(self.columns):
                raise ValueError(f"row {i} has {len(r)} cells, expected {len(self.columns)}")
        if self.bold is None:
            self.bold = np.zeros((len(self.rows), len(self.columns)), dtype=bool)
        if self.bold.shape != (len(self.rows), len(self.columns)):
            raise ValueError(f"bold mask shape {self.bold.shape} != "
                             f"{(len(self.rows), len(self.columns))}")
        if self.groups is not None and sum(s for _, s in self.groups) != len(self.columns):
            raise ValueError("header groups must span all columns")


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def to_markdown(t: Table) -> str:
    """GitHub-flavoured Markdown (bold as ``**x**``; header groups folded into the header)."""
    cols = list(t.columns)
    if t.groups:
        j = 0
        for label, span in t.groups:
            for k in range(j, j + span):
                if label and span > 1:
                    cols[k] = f"{label}: {cols[k]}"
                elif label:
                    cols[k] = label if not cols[k] else f"{label}: {cols[k]}"
            j += span
    lines = [f"**{t.title}**", "", "| " + " | ".join(_md_escape(c) for c in cols) + " |",
             "|" + "|".join("---" if i == 0 else "--:" for i in range(len(cols))) + "|"]
    for i, r in enumerate(t.rows):
        cells = [f"**{_md_escape(c)}**" if t.bold[i, j] and c not in ("", "–")
                 else _md_escape(c) for j, c in enumerate(r)]
        lines.append("| " + " | ".join(cells) + " |")
    if t.note:
        lines += ["", t.note]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}"}


_LATEX_UNICODE = {"±": r"$\pm$", "–": "--", "−": "$-$", "×": r"$\times$", "≥": r"$\geq$",
                  "≤": r"$\leq$", "α": r"$\alpha$", "χ²": r"$\chi^2$", "½": r"$\frac{1}{2}$",
                  "š": r"\v{s}"}


def _tex(s: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)
    for a, b in _LATEX_UNICODE.items():
        out = out.replace(a, b)
    return out


def to_latex(t: Table, label: str | None = None) -> str:
    """A ``table`` environment with booktabs rules (needs ``\\usepackage{booktabs}``)."""
    spec = "l" + "r" * (len(t.columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{_tex(t.title)}}}"]
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    if t.groups:
        cells, rules, j = [], [], 1
        for g, span in t.groups:
            cells.append(_tex(g) if span == 1 else rf"\multicolumn{{{span}}}{{c}}{{{_tex(g)}}}")
            if g and span > 1:
                rules.append(rf"\cmidrule(lr){{{j}-{j + span - 1}}}")
            j += span
        lines.append(" & ".join(cells) + r" \\")
        if rules:
            lines.append(" ".join(rules))
    lines.append(" & ".join(_tex(c) for c in t.columns) + r" \\")
    lines.append(r"\midrule")
    for i, r in enumerate(t.rows):
        if i in t.rules_before:
            lines.append(r"\midrule")
        cells = [rf"\textbf{{{_tex(c)}}}" if t.bold[i, j] and c not in ("", "–") else _tex(c)
                 for j, c in enumerate(r)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if t.note:
        lines.append(rf"\par\smallskip{{\footnotesize {_tex(t.note)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_csv(t: Table) -> str:
    """The raw numbers (``t.data``) as CSV; the formatted cells when there are none."""
    df = t.data if t.data is not None else pd.DataFrame(t.rows, columns=t.columns)
    return df.to_csv(index=False, float_format="%.10g")

