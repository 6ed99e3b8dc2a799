"""Math in the pages that show a student's notebook (feedback, formgrader), typeset with no network.

nbconvert's HTML leaves every formula as typed (``$$J(W,b) = \\left[\\frac{1}{m}…\\tag{8}$$``) for MathJax,
which its templates and nbgrader's load from a CDN (cdnjs): offline (an exam room, a hub behind a
firewall) and in JupyterLab's HTML viewer (a sandboxed frame that runs no script) every formula shows
as LaTeX source. Here each formula becomes MathML when the page is made, with ``latex2mathml`` (pure
Python, installed with the instructors' tools); every browser the course meets renders MathML itself
(Chromium since 109, Firefox, Safari), with no script and nothing loaded.

* ``typeset(html)``: the formulas of an HTML fragment's text (MathJax's delimiters: ``$…$``, ``$$…$$``,
  ``\\(…\\)``, ``\\[…\\]``, ``\\begin{env}…\\end{env}``; ``\\$`` is a dollar), outside ``code``, ``pre`` and
  the like, as MathML. The MathML is cleaned by bleach with MathML's own tags and presentation attributes
  (no ``href``, no event handler, no foreign element): latex2mathml copies ``\\text{<script>}`` into its
  output as it is. ``\\tag{8}`` becomes a number at the right of the display, as in the notes.
* ``OfflineMathExporter``: nbconvert's HTMLExporter whose ``markdown2html`` typesets, and whose
  ``mathjax()`` macro (called by nbgrader's feedback and formgrade templates) loads nothing and gives the
  page the CSS for the above. Formgrader uses it (autograder/formgrader.py ``install``).
* ``FeedbackExporter``: the same with the course's feedback template (autograder/templates/sae_feedback:
  each part named in the summary and above its cell, long diagnosis lines wrapped). GenerateFeedback uses
  it (nbgrader_config.py).

A formula latex2mathml cannot read stays as its LaTeX source, in a ``code`` element, not lost.
tests/test_offline_math.py covers the typesetting; tests/test_browser_feedback.py looks at the pages.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path

from jinja2 import DictLoader
from nbconvert.exporters import HTMLExporter
from traitlets import default

try:  # nbconvert 7 names it pass_context (jinja2 3); older ones contextfilter
    from jinja2 import pass_context
except ImportError:  # pragma: no cover
    from jinja2 import contextfilter as pass_context

__all__ = ["typeset", "mathml", "OfflineMathExporter", "FeedbackExporter", "TEMPLATES"]

#: The course's nbconvert templates (the feedback page).
TEMPLATES = Path(__file__).parent / "templates"

#: MathML elements a formula may be made of (presentation MathML: what latex2mathml writes, and a little more).
MATHML_TAGS = frozenset(
    "math semantics annotation mrow mi mn mo ms mtext mspace mfrac msqrt mroot mstyle merror mpadded mphantom "
    "msub msup msubsup munder mover munderover mtable mtr mtd menclose".split()
)
#: Their presentation attributes (no href, no style, no event handler).
MATHML_ATTRIBUTES = frozenset(
    "display encoding stretchy fence form separator accent accentunder displaystyle scriptlevel mathvariant "
    "columnalign rowalign columnspacing rowspacing columnlines rowlines frame notation lspace rspace "
    "linethickness width height depth movablelimits largeop symmetric minsize maxsize".split()
)

#: One formula, as MathJax finds them in text (its tex2jax defaults in nbconvert's template), or a \$.
_FORMULA = re.compile(
    r"(?P<dollar>\\\$)"
    r"|\$\$(?P<dd>.+?)\$\$"
    r"|\\\[(?P<bracket>.+?)\\\]"
    r"|(?P<env>\\begin\{(?P<name>[A-Za-z]+\*?)\}.*?\\end\{(?P=name)\})"
    r"|\\\((?P<paren>.+?)\\\)"
    r"|\$(?P<d>[^$]+?)\$",
    re.S,
)
_TAG = re.compile(r"\\tag(\*?)\s*\{([^{}]*)\}")
_DROPPED = re.compile(r"\\(?:label\s*\{[^{}]*\}|nonumber(?![A-Za-z])|notag(?![A-Za-z]))")
#: Elements whose text is not math: code, and whatever is not text of the page.
_SKIP = frozenset({"code", "pre", "kbd", "samp", "script", "style", "textarea", "math", "svg", "title"})
#: An HTML fragment cut into comments, tags (quoted attribute values may hold ">") and text.
_PIECE = re.compile(r"<!--.*?-->|<[A-Za-z/!?](?:[^>\"']|\"[^\"]*\"|'[^']*')*>|[^<]+|<", re.S)
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][\w-]*)")


@functools.cache
def _cleaner():
    import bleach

    return bleach.Cleaner(tags=MATHML_TAGS, attributes=lambda tag, name, value: name in MATHML_ATTRIBUTES)


@functools.lru_cache(maxsize=4096)
def mathml(tex: str, display: bool) -> str:
    """One formula as HTML: cleaned MathML (a display one with its \\tag at the right), or, where latex2mathml
    cannot read it, its source in a code element."""
    from latex2mathml.converter import convert

    tags = _TAG.findall(tex)
    body = _DROPPED.sub("", _TAG.sub("", tex)).strip()
    try:
        converted = convert(body, display="block" if display else "inline")
    except Exception:  # any error of the converter: the formula stays readable as LaTeX
        delimiter = "$$" if display else "$"
        return f'<code class="sae-tex">{html.escape(delimiter + tex + delimiter)}</code>'
    inner = converted[converted.index(">") + 1 : converted.rindex("</math>")]
    annotation = f'<annotation encoding="application/x-tex">{html.escape(tex)}</annotation>'
    kind = "block" if display else "inline"
    formula = _cleaner().clean(f'<math display="{kind}"><semantics><mrow>{inner}</mrow>{annotation}</semantics></math>')
    if not display:
        return formula
    label = "".join(f"({text})" if not star else text for star, text in tags)
    number = f'<span class="sae-math-tag">{html.escape(label)}</span>' if label else ""
    return f'<span class="sae-math-display">{formula}{number}</span>'


def _typeset_text(text: str) -> str:
    """A run of text (as the browser reads it, entities decoded) as HTML, its formulas as MathML."""
    out, last = [], 0
    for found in _FORMULA.finditer(text):
        out.append(html.escape(text[last : found.start()], quote=False))
        last = found.end()
        if found["dollar"]:
            out.append("$")
        elif found["env"]:
            out.append(mathml(found["env"], True))
        else:
            display = found["d"] is None and found["paren"] is None
            out.append(mathml(found["dd"] or found["bracket"] or found["paren"] or found["d"], display))
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def typeset(fragment: str) -> str:
    """An HTML fragment with the formulas of its text typeset as MathML (see the module); tags, comments and
    the text of code, pre and the like are left as they are."""
    out, skipping = [], []  # the elements of _SKIP open around the current piece
    for piece in _PIECE.findall(fragment or ""):
        if piece.startswith("<!--") or piece == "<":
            out.append(piece)
            continue
        if piece.startswith("<"):
            name = _TAG_NAME.match(piece)
            if name and name[2].lower() in _SKIP and not piece.endswith("/>"):
                if name[1]:
                    if skipping and skipping[-1] == name[2].lower():
                        skipping.pop()
                else:
                    skipping.append(name[2].lower())
            out.append(piece)
            continue
        if skipping or ("$" not in piece and "\\" not in piece):
            out.append(piece)
            continue
        out.append(_typeset_text(html.unescape(piece)))
    return "".join(out)


#: The page's style for the MathML above (given by the mathjax() macro, in the page's head).
MATH_CSS = """<style type="text/css">
/* Formulas are MathML, typeset by the browser (autograder/offline_math.py): no script, no network. */
math { font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math", "DejaVu Math TeX Gyre", math; }
.sae-math-display { display: flex; align-items: center; margin: 0.6em 0; }
.sae-math-display > math { flex: 1; }
.sae-math-tag { margin-left: 1em; }
code.sae-tex { white-space: pre-wrap; }
</style>"""

#: nbconvert's mathjax macro (templates/base/mathjax.html.j2), which loads MathJax from a CDN: here the CSS.
_MATHJAX_MACRO = "{%- macro mathjax(url='') -%}\n" + MATH_CSS + "\n{%- endmacro %}\n"


class OfflineMathExporter(HTMLExporter):
    """nbconvert's HTMLExporter with the formulas of Markdown typeset as MathML and no MathJax loaded."""

    @default("extra_loaders")
    def _extra_loaders_default(self):
        return [DictLoader({"mathjax.html.j2": _MATHJAX_MACRO})]

    @pass_context
    def markdown2html(self, context, source):
        return typeset(super().markdown2html(context, source))

    def default_filters(self):
        yield from super().default_filters()
        yield "typeset", typeset


class FeedbackExporter(OfflineMathExporter):
    """The feedback page: OfflineMathExporter with the course's template (``sae_feedback``, which extends
    nbconvert's classic template as nbgrader's feedback template does: each part named, lines wrapped)."""

    @default("template_name")
    def _template_name_default(self):
        return "sae_feedback"
