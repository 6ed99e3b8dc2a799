"""Math in the pages that show a student's notebook (feedback, formgrader), typeset with no network.

nbconvert's HTML leaves every formula as typed (``$$J(W,b) = \\left[\\frac{1}{m}…\\tag{8}$$``) for MathJax,
which its templates and nbgrader's load from a CDN (cdnjs): offline (an exam room, a hub behind a
firewall) and in JupyterLab's HTML viewer (a sandboxed frame that runs no script) every formula shows
as LaTeX source. Here each formula becomes MathML when the page is made, with ``latex2mathml`` (pure
Python, installed with the instructors' tools); every browser the course meets renders MathML itself
(Chromium since 109, Firefox, Safari), with no script and nothing loaded.

* ``typeset(html)``: the formulas of an HTML fragment's text (MathJax's delimiters: ``$…$``, ``$$…$$``,
  ``\\(…\\)``, ``\\[…\\]``, ``\\begin{env}…\\end{env}`` of ENVIRONMENTS; ``\\$`` is a dollar), outside ``code``,
  ``pre`` and the like, as MathML, in time linear in the text, and no more of them on one page than a Budget
  allows (past it, a formula stays as its source). The MathML is cleaned by bleach with MathML's own tags
  and presentation attributes (no ``href``, no event handler, no foreign element): latex2mathml copies
  ``\\text{<script>}`` into its output as it is. ``\\tag{8}`` becomes a number at the right of the display,
  as in the notes.
* ``OfflineMathExporter``: nbconvert's HTMLExporter whose ``markdown2html`` typesets, and whose
  ``mathjax()`` macro (called by nbgrader's feedback and formgrade templates) loads nothing and gives the
  page the CSS for the above. Formgrader uses it (autograder/formgrader.py ``install``).
* ``FeedbackExporter``: the same with the course's feedback template (autograder/templates/sae_feedback:
  each part named in the summary and above its cell, long diagnosis lines wrapped). GenerateFeedback uses
  it (nbgrader_config.py).

A formula latex2mathml cannot read stays as its LaTeX source, in a ``code`` element, not lost.
tests/test_offline_math.py covers the typesetting; tests/test_browser.py looks at the pages in Chromium.
"""

from __future__ import annotations

import functools
import html
import re
import threading
from pathlib import Path

from jinja2 import BytecodeCache, DictLoader
from nbconvert.exporters import HTMLExporter
from traitlets import default

try:  # nbconvert 7 names it pass_context (jinja2 3); older ones contextfilter
    from jinja2 import pass_context
except ImportError:  # pragma: no cover
    from jinja2 import contextfilter as pass_context

__all__ = ["typeset", "mathml", "Budget", "OfflineMathExporter", "FeedbackExporter", "TEMPLATES"]

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

_TAG = re.compile(r"\\tag(\*?)\s*\{([^{}]*)\}")
_DROPPED = re.compile(r"\\(?:label\s*\{[^{}]*\}|nonumber(?![A-Za-z])|notag(?![A-Za-z]))")
#: The environments a formula may be (MathJax's processEnvironments), a known few: each is looked for once.
ENVIRONMENTS = tuple(
    f"{name}{star}"
    for name in "equation align aligned gather gathered multline split cases array matrix pmatrix bmatrix".split()
    for star in ("", "*")
)
#: What one page typesets at most (the course's largest notebook: 167 formulas, 7,463 characters of LaTeX, the
#: longest formula 1,683): past these a formula stays as its source, escaped, so that a submission of a
#: million formulas (about 2.4 ms each, the MathML 15 times the LaTeX's size) makes no page of hours and GBs.
MAX_FORMULAS = 2000
MAX_FORMULA_CHARS = 5000
MAX_PAGE_TEX_CHARS = 200_000
#: Formulas longer than this are not kept in mathml's cache (a long-lived formgrader would hold them).
CACHED_CHARS = 1000
#: Where a formula may start (MathJax's delimiters in nbconvert's template, its tex2jax defaults), or a \$.
_OPENER = re.compile(r"\\\$|\$\$?|\\\[|\\\(|\\begin\{(" + "|".join(map(re.escape, ENVIRONMENTS)) + r")\}")
#: What ends the formula each opener starts; whether it is a display.
_CLOSER = {"$$": ("$$", True), "\\[": ("\\]", True), "\\(": ("\\)", False), "$": ("$", False)}
#: Elements whose text is not math: code, and whatever is not text of the page.
_SKIP = frozenset({"code", "pre", "kbd", "samp", "script", "style", "textarea", "math", "svg", "title"})
#: An HTML fragment cut into comments, tags (quoted attribute values may hold ">") and text.
_PIECE = re.compile(r"<!--.*?-->|<[A-Za-z/!?](?:[^>\"']|\"[^\"]*\"|'[^']*')*>|[^<]+|<", re.S)
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][\w-]*)")


@functools.cache
def _cleaner():
    import bleach

    return bleach.Cleaner(tags=MATHML_TAGS, attributes=lambda tag, name, value: name in MATHML_ATTRIBUTES)


def mathml(tex: str, display: bool) -> str:
    """One formula as HTML: cleaned MathML (a display one with its \\tag at the right), or, where latex2mathml
    cannot read it, its source in a code element."""
    return _mathml_cached(tex, display) if len(tex) <= CACHED_CHARS else _mathml(tex, display)


def _mathml(tex: str, display: bool) -> str:
    from latex2mathml.converter import convert

    tags = _TAG.findall(tex)
    body = _DROPPED.sub("", _TAG.sub("", tex)).strip()
    try:
        converted = convert(body, display="block" if display else "inline")
    except Exception:  # any error of the converter (a RecursionError too): the formula stays readable as LaTeX
        return _source(tex, display)
    inner = converted[converted.index(">") + 1 : converted.rindex("</math>")]
    annotation = f'<annotation encoding="application/x-tex">{html.escape(tex)}</annotation>'
    kind = "block" if display else "inline"
    formula = _cleaner().clean(f'<math display="{kind}"><semantics><mrow>{inner}</mrow>{annotation}</semantics></math>')
    if not display:
        return formula
    label = "".join(f"({text})" if not star else text for star, text in tags)
    number = f'<span class="sae-math-tag">{html.escape(label)}</span>' if label else ""
    return f'<span class="sae-math-display">{formula}{number}</span>'


_mathml_cached = functools.lru_cache(maxsize=4096)(_mathml)


def _source(tex: str, display: bool) -> str:
    delimiter = "$$" if display else "$"
    return f'<code class="sae-tex">{html.escape(delimiter + tex + delimiter)}</code>'


class Budget:
    """What one page may still typeset (MAX_FORMULAS, MAX_PAGE_TEX_CHARS; MAX_FORMULA_CHARS each)."""

    def __init__(self):
        self.formulas, self.chars = MAX_FORMULAS, MAX_PAGE_TEX_CHARS

    def take(self, tex: str) -> bool:
        if len(tex) > MAX_FORMULA_CHARS or self.formulas <= 0 or len(tex) > self.chars:
            return False
        self.formulas -= 1
        self.chars -= len(tex)
        return True


class _Closers:
    """Where each closing delimiter next occurs in a text, from a position on. Positions only grow as the text is
    read, so each delimiter's search starts past where its last one ended: every character is looked at once per
    delimiter (a regex "opener, anything, closer" looked from each unclosed opener to the end: 40,000 "\\(" took
    75 s, found by a review)."""

    def __init__(self, text: str):
        self.text, self.found = text, {}

    def next(self, closer: str, start: int) -> int:
        at = self.found.get(closer)
        if at is None or (at != -1 and at < start):
            at = self.text.find(closer, start)
            self.found[closer] = at
        return at


def _typeset_text(text: str, budget: Budget) -> str:
    """A run of text (as the browser reads it, entities decoded) as HTML, its formulas as MathML."""
    out, last, position, closers = [], 0, 0, _Closers(text)
    while True:
        opener = _OPENER.search(text, position)
        if opener is None:
            break
        begin, end = opener.span()
        if opener[0] == "\\$":  # an escaped dollar: a dollar
            out += [html.escape(text[last:begin], quote=False), "$"]
            last = position = end
            continue
        if opener[1]:  # an environment: the formula is the whole of it
            closer, display = f"\\end{{{opener[1]}}}", True
        else:
            closer, display = _CLOSER[opener[0]]
        close = closers.next(closer, end)
        if close == -1 or close == end:  # not closed, or empty: text
            position = end
            continue
        tex = text[begin : close + len(closer)] if opener[1] else text[end:close]
        out.append(html.escape(text[last:begin], quote=False))
        whole = text[begin : close + len(closer)]
        out.append(mathml(tex, display) if budget.take(tex) else html.escape(whole, quote=False))
        last = position = close + len(closer)
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def typeset(fragment: str, budget: Budget | None = None) -> str:
    """An HTML fragment with the formulas of its text typeset as MathML (see the module); tags, comments and
    the text of code, pre and the like are left as they are. budget: the page's (a new one if None)."""
    budget = budget or Budget()
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
        out.append(_typeset_text(html.unescape(piece), budget))
    return "".join(out)


#: The page's style for the MathML above (given by the mathjax() macro, in the page's head). In a file of its
#: own: the feedback withholds what quotes a line of the package's Python (feedback.grader_lines).
MATH_CSS = '<style type="text/css">\n' + (TEMPLATES / "offline_math.css").read_text() + "</style>"

#: nbconvert's mathjax macro (templates/base/mathjax.html.j2), which loads MathJax from a CDN: here the CSS.
_MATHJAX_MACRO = "{%- macro mathjax(url='') -%}\n" + MATH_CSS + "\n{%- endmacro %}\n"


class CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates, kept for this process: nbgrader makes an exporter for each notebook's page
    (GenerateFeedback, once per assignment), and each exporter's Jinja environment compiled the same nine
    templates again (0.37 s of a page's 2.3 s, measured on 03's feedback). Jinja checks each template's source
    against the one compiled (its checksum), so an edited template is compiled anew; one cache a class of exporter
    (``compiled``), as Jinja's key is the template's name and file, not the environment's settings."""

    def __init__(self):
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


@functools.cache
def compiled(exporter: type) -> CompiledTemplates:
    """The compiled templates of this process's pages made by one class of exporter (feedback, formgrader)."""
    return CompiledTemplates()


class OfflineMathExporter(HTMLExporter):
    """nbconvert's HTMLExporter with the formulas of Markdown typeset as MathML and no MathJax loaded; its
    templates compiled once a process (``compiled``)."""

    @default("extra_loaders")
    def _extra_loaders_default(self):
        return [DictLoader({"mathjax.html.j2": _MATHJAX_MACRO})]

    _budget: Budget | None = None  # the page's being made (formgrader makes every page with one exporter)

    def from_notebook_node(self, nb, resources=None, **kw):
        self._budget = Budget()
        self.environment.bytecode_cache = compiled(type(self))  # Jinja's public attribute, read as a template loads
        return super().from_notebook_node(nb, resources, **kw)

    @pass_context
    def markdown2html(self, context, source):
        return typeset(super().markdown2html(context, source), self._budget)

    def default_filters(self):
        yield from super().default_filters()
        yield "typeset", lambda text: typeset(text, self._budget)


class FeedbackExporter(OfflineMathExporter):
    """The feedback page: OfflineMathExporter with the course's template (``sae_feedback``, which extends
    nbconvert's classic template as nbgrader's feedback template does: each part named, lines wrapped).

    The template is set by configuration (nbgrader_config.py), as it must be: GenerateFeedback configures
    HTMLExporter's, which a class default would not outweigh; a class of its own is a configuration section of
    its own, so formgrader's exporter (an OfflineMathExporter) keeps its template."""
