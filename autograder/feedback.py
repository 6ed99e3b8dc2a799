"""Feedback that tells students what is wrong without showing how the hidden tests work.

nbgrader's ``generate_feedback`` renders the autograded notebook as it is: test cells
with their ``### BEGIN HIDDEN TESTS`` block (nbgrader issue #917) and error outputs
with full IPython tracebacks (#1363), which quote hidden lines, name
``autograder/checks/*.py`` and the files of the packages below it. Adding nbgrader's
``ClearHiddenTests`` to the feedback removes the source but not the tracebacks.

``SafeFeedback`` is nbgrader's ``ClearHiddenTests`` plus a rewrite of the outputs, for
``GenerateFeedback`` (registered in ``nbgrader_config.py``, after ``GetGrades``):

* the hidden-test block is removed from every cell's source (nbgrader's own code);
* every error output becomes one line of text, ``ExceptionName: message``: no
  traceback frame, no file path, no ANSI colour code. In a test cell, an error raised
  on a line of the hidden block keeps its message only if it is one of
  ``hidden_messages`` (``CheckFailure``, the checks' diagnosis, is an AssertionError);
  any other error there (an ImportError of the grader, say) is reported without its
  message, since it may quote the hidden tests' internals;
* a cell that ran out of time (nbclient's ``CellTimeoutError``, after which the kernel
  also reports the ``KeyboardInterrupt`` that stopped the cell) and a cell whose kernel
  died (``DeadKernelError``) get one plain sentence each;
* stderr text loses its file paths, warning source lines and traceback frames, and a
  test cell that scored 0 because of stderr output says so (nbgrader gives 0 to a test
  cell that writes to stderr).

* a test cell judged by the isolated pass shows its verdict, none of the kernel's outputs;
* an output that quotes the grader (a line of a hidden-test block, or a line of the
  ``autograder`` package) anywhere in its text, data or metadata is replaced by one
  sentence, whoever printed it: see ``Secrets``. A second line of defence: where the
  isolated pass records the scores, the kernel sees neither (autograder.kernel); with
  ``--no-isolation`` it sees both, and what it prints encoded (base64, say) is not caught
  (docs/threat-model.md).

``SanitizeFeedback`` (registered after it in ``nbgrader_config.py``, and run by the grader on
the autograded notebooks that formgrader shows) keeps the student's HTML and JavaScript out of
the page, which instructors open too: nbconvert's ``SanitizeHTML`` on outputs (no script, no
SVG, HTML cleaned by bleach), Markdown outputs as text, output metadata reduced to sizes,
every output bounded, and Markdown cells rendered and cleaned (``safe_markdown``).

The score of each part is shown by nbgrader's feedback template (from ``GetGrades``).

Why one module of this length: SafeFeedback, Secrets and SanitizeFeedback are one defence (what a
page may show), read and attacked together (tests/test_feedback.py, tests/test_attacks.py).
Note: when the kernel dies, nbgrader 0.9.6 fails the whole notebook and writes no
autograded notebook, so there is nothing to give feedback on; the ``DeadKernelError``
case only covers graders that record the error in the cell.
"""

from __future__ import annotations

import functools
import html
import json
import re
import unicodedata
from pathlib import Path

from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Any, Bool, Integer, List, Unicode

from . import cells

__all__ = ["SafeFeedback", "SanitizeFeedback", "safe_text", "error_line"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
#: An absolute or home-relative path with at least two components (not "1/m", not "lambda/2").
_PATH = re.compile(r"(?<![\w.])(?:~|[A-Za-z]:)?(?:[/\\][\w.+@-]+){2,}[/\\]?")
#: The top frame of an IPython 8 traceback: "Cell In[15], line 2".
_CELL_FRAME = re.compile(r"^Cell In\s*\[\s*\d*\s*\], line (\d+)")
#: A warning printed by the warnings module: "/path/file.py:12: RuntimeWarning: overflow ...".
_WARNING = re.compile(r"^\S.*?:\d+: (?P<category>[A-Za-z_][\w.]*): (?P<message>.*)$")


def safe_text(text: str, limit: int = 0) -> str:
    """text without ANSI codes, with every file path reduced to its last component; cut to limit characters."""
    text = _ANSI.sub("", text or "")
    text = _PATH.sub(lambda m: re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], text)
    text = text.strip()
    if limit and len(text) > limit:
        text = text[:limit].rstrip() + " ..."
    return text


def error_line(ename: str, message: str) -> NotebookNode:
    """An error output whose whole traceback is the single text ``ename: message``."""
    ename = safe_text(ename) or "Error"
    text = f"{ename}: {message}" if message else ename
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[text])


_NOT_DEFINED = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]{0,60})' is not defined")


def later_cell_name(outputs: list) -> str | None:
    """The name of a kernel's NameError among a cell's outputs (rebuilt from the pattern, nothing else kept)."""
    for output in outputs:
        if output.get("output_type") == "error" and output.get("ename") == "NameError":
            found = _NOT_DEFINED.search(str(output.get("evalue", "")))
            if found:
                return found.group(1)
    return None


#: The start of a Markdown heading line: "## Part A — the cost (3 points)".
_HEADING = re.compile(r" {0,3}#{1,6}[ \t]+")
#: An HTML heading's tag, opening or closing (no "<" inside: each match stops at the next one, so a
#: submission's thousands of unclosed "<h2" cost time linear in the text, as every pattern here does).
_HTML_HEADING_TAG = re.compile(r"<(/?)h[1-6]\b[^<>]*>")
_HTML_TAG = re.compile(r"<[^<>]*>")
_POINTS = re.compile(r"\s*\(\d+(?:\.\d+)? points?\)\s*$")
#: Characters of a part's title kept (a student may have edited the heading: it is their own page).
TITLE_CHARS = 100


def _headings(source: str) -> list[str]:
    """The headings of a Markdown cell: its Markdown ones, or, where it holds HTML, the text of its <h1>-<h6>."""
    found = []
    for line in source.split("\n"):
        start = _HEADING.match(line)
        if start:
            found.append(line[start.end() :].rstrip(" \t#"))
    if found:
        return found
    opened = None
    for tag in _HTML_HEADING_TAG.finditer(source):
        if not tag[1]:
            opened = tag.end()
        elif opened is not None:
            found.append(html.unescape(_HTML_TAG.sub("", source[opened : tag.start()])).rstrip("¶ "))
            opened = None
    return found


def name_parts(nb) -> None:
    """Give every graded cell its part's title, ``cell.metadata.autograder.part``: the last heading
    above it ("Part A — the cost"), without its points, backticks and stars; the feedback template shows it
    with the cell's grade_id in the summary and above the cell. Set on every graded cell (what a submission
    put there is replaced)."""
    title = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # Markdown, or (in an autograded notebook: grading.worker.annotate) the HTML safe_markdown made of it
            headings = _headings(cell.source)
            if headings:
                title = _POINTS.sub("", headings[-1].replace("`", "").replace("*", "")).strip()
                title = safe_text(title, TITLE_CHARS)
        if cells.is_grade(cell) or cells.is_task(cell):
            if not isinstance(cell.metadata.get("autograder"), dict):
                cell.metadata["autograder"] = {}
            cell.metadata["autograder"]["part"] = title


def _raising_line(traceback: list[str]) -> int | None:
    """The line of the executed cell where the error was raised (its top frame), if the traceback says."""
    for entry in traceback or []:
        match = _CELL_FRAME.match(_ANSI.sub("", entry).strip())
        if match:
            return int(match.group(1))
    return None


def _safe_stderr(text: str, limit: int) -> str:
    """stderr with warnings reduced to "Category: message" and tracebacks to their last line."""
    out, skip_indented = [], False
    for line in _ANSI.sub("", text).split("\n"):
        if skip_indented and line[:1] in (" ", "\t"):
            continue  # the source line a warning quotes, or a traceback frame
        skip_indented = False
        warning = _WARNING.match(line)
        if warning:
            out.append(f"{warning['category']}: {safe_text(warning['message'])}")
            skip_indented = True
        elif line.startswith("Traceback (most recent call last)"):
            skip_indented = True
        else:
            out.append(safe_text(line))
    return safe_text("\n".join(out), limit) + "\n"


#: Lines of the grader's code shorter than this are not secrets ("import numpy as np", "return z").
SECRET_MIN_CHARS = 30


@functools.cache
def grader_lines() -> frozenset[str]:
    """The stripped lines of the autograder package's Python files, SECRET_MIN_CHARS long or more."""
    lines = set()
    for path in Path(__file__).resolve().parent.rglob("*.py"):
        lines.update(line.strip() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if len(line) >= SECRET_MIN_CHARS)


_SPACE = re.compile(r"\s+")
#: Secrets are found by their first KEY characters (whitespace collapsed), then compared whole.
KEY = 16


@functools.cache
def _invisible() -> dict[int, None]:
    """Characters that show nothing (zero-width spaces and joiners, direction marks: Unicode's "Cf")."""
    return {c: None for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"}


def _normal(text: str) -> str:
    """text as a reader sees it: no ANSI codes, no invisible characters, compatibility forms folded
    (NFKC: full-width letters, ligatures), escaped line breaks as breaks, whitespace collapsed."""
    text = _ANSI.sub("", text.replace("\\n", "\n")).translate(_invisible())
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text))


class Secrets:
    """Lines that must not appear anywhere in a text: found as substrings, whatever surrounds them.

    Both sides are read as a reader sees them (_normal), so that neither indentation, a prefix
    ("> "), ``repr()``, a join of several lines, ANSI codes nor zero-width characters hide one.
    (Look-alike letters of other scripts, entities in HTML and encodings do: the kernel sees no
    hidden test and no line of the grader in the first place, autograder.kernel.)
    """

    def __init__(self, lines):
        self.index: dict[str, list[str]] = {}
        for line in lines:
            line = _normal(line).strip()
            if len(line) >= KEY:
                self.index.setdefault(line[:KEY], []).append(line)

    def found_in(self, text: str) -> bool:
        text = _normal(text)
        index = self.index
        for i in range(len(text) - KEY + 1):
            candidates = index.get(text[i : i + KEY])
            if candidates and any(text.startswith(c, i) for c in candidates):
                return True
        return False


def strings(value) -> list[str]:
    """Every string in a JSON-like value (an output's data and metadata included), keys too."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings(v)]
    return []


class SafeFeedback(ClearHiddenTests):
    """nbgrader's ClearHiddenTests, plus error outputs reduced to "ExceptionName: message" (see the module)."""

    # In feedback the job is to remove hidden tests wherever they are, not to validate the
    # notebook (generate_assignment did): never abort a student's feedback over metadata.
    enforce_metadata = Bool(False, help="Raise if a hidden-test block is found outside a grade cell.").tag(config=True)

    hidden_messages = List(
        Unicode(),
        ["CheckFailure", "AssertionError", "NameError"],
        help="Exceptions raised by hidden-test code whose message is shown (others: the name only).",
    ).tag(config=True)

    max_message_chars = Integer(2000, help="Longer error messages are cut to this many characters.").tag(config=True)

    timeout_message = Unicode(
        "this cell did not finish within the time limit{limit} and was stopped: "
        "look for an infinite loop or very slow code",
        help="Shown for a cell that timed out; {limit} becomes ' of N s' when Execute.timeout is set.",
    ).tag(config=True)

    dead_kernel_message = Unicode(
        "the Python kernel died while this cell ran (a crash, too much memory, or os._exit): "
        "nothing after this point could be graded",
        help="Shown for a cell whose kernel died.",
    ).tag(config=True)

    hidden_error_message = Unicode(
        "the hidden tests of this cell could not run (a problem on the grading side): tell your instructor",
        help="Shown, after the exception name, for an error of the hidden tests that is not a hidden_messages one.",
    ).tag(config=True)

    stderr_note = Unicode(
        "(This test cell wrote to stderr, which nbgrader scores as a failure: silence the warnings above.)",
        help="Added to a test cell that scored 0 with no error, only because it wrote to stderr.",
    ).tag(config=True)

    later_cell_message = Unicode(
        "Note: run from the top, as nbgrader runs your notebook, this cell stopped with NameError: "
        "{name} is used before the cell that defines it has run. Your functions were graded once all "
        "your cells had run, so no points are lost here; move the definition of {name} above this cell "
        "so that Kernel > Restart & Run All works.",
        help="Shown for a test cell that passed the isolated pass but met a NameError in the kernel ({name}).",
    ).tag(config=True)

    withheld_message = Unicode(
        "[output withheld: it quotes the grader's hidden tests or code]",
        help="Replaces an output that quotes a hidden-test block or the autograder package.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        self._secrets = self._secret_lines(nb)
        name_parts(nb)
        return super().preprocess(nb, resources)

    def _secret_lines(self, nb) -> Secrets:
        """The hidden blocks' lines and the grader's, less any line the student sees in the notebook anyway."""
        hidden, seen = set(), set()
        for cell in nb.cells:
            block = cells.hidden_lines(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
            for number, line in enumerate(cell.source.split("\n"), start=1):
                (hidden if number in block else seen).add(line.strip())
        return Secrets((hidden | grader_lines()) - seen)

    def _quotes_the_grader(self, output) -> bool:
        text = "\n".join(strings(dict(output)))  # its data, its metadata, its text, its traceback
        return self.begin_test_delimeter in text or self._secrets.found_in(text)

    def preprocess_cell(self, cell, resources, cell_index):
        hidden = cells.hidden_lines(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        cell, resources = super().preprocess_cell(cell, resources, cell_index)  # nbgrader removes the block
        if cell.cell_type == "code":
            isolated = cell.metadata.get("autograder", {}).get("isolated")
            outputs = self._isolated_outputs(cell, isolated) if isolated else self._safe_outputs(cell, hidden)
            withheld = NotebookNode(output_type="stream", name="stdout", text=self.withheld_message + "\n")
            cell.outputs = [withheld if self._quotes_the_grader(o) else o for o in outputs]
        return cell, resources

    def _isolated_outputs(self, cell, isolated: dict) -> list:
        """A test cell judged by the isolated pass (autograder.verdict): its verdict replaces the kernel's
        outputs, all of them: the recorded score is the isolated one, which they did not decide, and
        code run before the cell (a pre_run_cell hook) could write anything there.
        """
        kept: list = []
        if isolated.get("score", 0) >= isolated.get("points", 0):
            name = later_cell_name(cell.get("outputs", []))
            if name and name in cell.metadata.get("autograder", {}).get("functions", []):  # none of the student's words
                kept.append(
                    NotebookNode(
                        output_type="stream", name="stdout", text=self.later_cell_message.format(name=name) + "\n"
                    )
                )
            return kept
        ename, _, message = str(isolated.get("message", "")).partition(": ")
        if (isolated.get("hidden") or isolated.get("diagnosed")) and ename not in self.hidden_messages:
            message = self.hidden_error_message
        return [*kept, error_line(ename, safe_text(message, self.max_message_chars))]

    # ------------------------------------------------------------------ outputs

    def _timeout_ename(self) -> str:
        return dict(self.config.Execute.get("error_on_timeout") or {}).get("ename", "CellTimeoutError")

    def _timeout_text(self) -> str:
        seconds = self.config.Execute.get("timeout")
        return self.timeout_message.format(limit=f" of {seconds} s" if seconds else "")

    def _safe_outputs(self, cell, hidden: set[int]) -> list:
        outputs = list(cell.get("outputs", []))
        timeout = self._timeout_ename()
        timed_out = any(o.output_type == "error" and o.get("ename") == timeout for o in outputs)
        safe, has_error, has_stderr = [], False, False
        for output in outputs:
            if output.output_type == "error":
                ename = output.get("ename", "")
                if timed_out and ename == "KeyboardInterrupt":
                    continue  # the interrupt that stopped the cell: reported once, as the timeout
                if not has_error or ename in (timeout, "DeadKernelError"):
                    safe.append(self._safe_error(output, hidden, timeout))
                has_error = True
            elif output.output_type == "stream" and output.get("name") == "stderr":
                has_stderr = True
                safe.append(
                    NotebookNode(
                        output_type="stream", name="stderr", text=_safe_stderr(output.text, self.max_message_chars)
                    )
                )
            else:
                safe.append(output)
        meta = cells.meta(cell)
        if has_stderr and not has_error and cells.is_grade(cell) and meta.get("score") == 0 and meta.get("points"):
            safe.append(NotebookNode(output_type="stream", name="stderr", text=self.stderr_note + "\n"))
        return safe

    def _safe_error(self, output, hidden: set[int], timeout: str) -> NotebookNode:
        ename = output.get("ename", "") or "Error"
        if ename == timeout:
            return error_line(ename, self._timeout_text())
        if ename == "DeadKernelError":
            return error_line(ename, self.dead_kernel_message)
        message = safe_text(output.get("evalue", ""), self.max_message_chars)
        if hidden:
            line = _raising_line(output.get("traceback", []))
            in_hidden = line is None or line in hidden  # unknown origin: assume the hidden tests
            if in_hidden and ename not in self.hidden_messages:
                return error_line(ename, self.hidden_error_message)
        return error_line(ename, message)


def escape_tags(markdown: str) -> str:
    """markdown with every ``<`` that could open an HTML tag or comment written as ``&lt;``.

    Everywhere, math and code included: guessing where Markdown's math and code spans are (escaped
    dollars, nested backticks) as its renderer does is how a tag would slip through. No cell of the
    course has such a ``<``; in a student's math or code span it shows as ``&lt;``.
    """
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", markdown)


#: What a Markdown cell may render to (what nbconvert's Markdown makes of the course's cells, and more).
MARKDOWN_TAGS = {
    *"p br hr h1 h2 h3 h4 h5 h6 em strong b i u s del code pre blockquote ul ol li a img".split(),
    *"table thead tbody tr th td span div sup sub".split(),
}
#: Where a link may lead: an anchor of the page. Nothing else is a link in a page a student's work is
#: shown in (the feedback, formgrader): a link to a file of the submission would open the student's HTML
#: in the instructor's Jupyter session; one elsewhere, a page in the course's name.
_SAFE_LINK = re.compile(r"#[\w-]*")
#: What an image may load: a file of the notebook's own folder (a relative path, no "..", no "/" first,
#: no "%" or "\\" that a browser would read as one), or the image itself (an attachment of the cell,
#: which the renderer writes as a data URI; in an <img>, an SVG runs no script and loads nothing). No cell
#: of the course has one; a remote image would tell its server who opened the page, and "a/../../logout"
#: in formgrader is a request to the instructor's server, with their cookie.
_SAFE_IMAGE = re.compile(r"\w[\w.-]*(/\w[\w.-]*)*|data:image/(png|jpeg|gif|svg\+xml);base64,[\w+/=\s]*")


def _attribute(tag: str, name: str, value: str) -> bool:
    """Whether a Markdown cell's HTML keeps this attribute (bleach's attribute filter)."""
    if name == "href":
        return bool(_SAFE_LINK.fullmatch(value))
    if name == "src":
        return bool(_SAFE_IMAGE.fullmatch(value))
    if tag == "img":
        return name in ("alt", "title", "width", "height")
    if tag in ("th", "td"):
        return name == "align"
    return name in ("id", "class", "title")


def _output_attribute(tag: str, name: str, value: str) -> bool:
    """Whether an HTML output keeps this attribute: nbconvert's (bleach's) allowed ones, but a link's
    destination only if it is an anchor (so a link elsewhere shows as its text)."""
    if name == "href":
        return tag == "a" and bool(_SAFE_LINK.fullmatch(value))
    return name == "title" and tag in ("a", "abbr", "acronym")


#: The kinds of an attachment shown as an image (as a data URI: _SAFE_IMAGE).
_IMAGE_KINDS = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
#: The start of an HTML tag (or a comment, a declaration), as an HTML parser reads one.
_TAG = re.compile(r"<[A-Za-z!/?]")

#: MathJax's \href (in the pages' MathJax, from nbconvert's and formgrader's templates, with its Safe
#: extension, which allows http, https and file addresses): a link anywhere math is typeset.
_MATH_LINK = re.compile(r"\\href(?![A-Za-z])")


def no_math_links(text: str) -> str:
    r"""text with MathJax's ``\href`` written as the word href (``\operatorname{href}``): the math shows, as
    text, and links nowhere (``$\href{https://…}{\text{your grade}}$`` was a link in the course's pages)."""
    return _MATH_LINK.sub(r"\\operatorname{href}", text)


@functools.cache  # one class, made once: the filter of every cell and output
def _page_filter():
    """An html5lib filter (bleach's), after the cleaning: a link left with no address (its own was not an
    anchor: _SAFE_LINK) becomes a <span>, so that its text shows as text, not as a link that leads nowhere;
    text, read as the browser reads it (entities decoded: bleach keeps &#92; as it is, which the browser
    reads as a backslash), has no MathJax link (no_math_links)."""
    from bleach.html5lib_shim import Filter

    class PageFilter(Filter):
        def __iter__(self):
            linked, text = [], []  # for each <a> open: whether it kept its href; the text read so far
            for token in super().__iter__():
                if token["type"] in ("Characters", "SpaceCharacters", "Entity"):
                    text.append(html.unescape(f"&{token['name']};") if token["type"] == "Entity" else token["data"])
                    continue
                if text:  # one run of text, as the browser will read it (the serializer escapes it again)
                    yield {"type": "Characters", "data": no_math_links("".join(text))}
                    text = []
                if token["type"] in ("StartTag", "EmptyTag") and token["name"] == "a":
                    linked.append(any(name == "href" for _, name in token["data"]))
                    if not linked[-1]:
                        token = {**token, "name": "span"}
                elif token["type"] == "EndTag" and token["name"] == "a" and linked and not linked.pop():
                    token = {**token, "name": "span"}
                yield token
            if text:
                yield {"type": "Characters", "data": no_math_links("".join(text))}

    return PageFilter


def safe_markdown(markdown: str, attachments: dict | None = None) -> str:
    """A Markdown cell as the HTML it renders to, cleaned, in a block that Markdown passes on as is.

    Judged on the HTML the renderer made, not on the Markdown: every way to write a link or an
    image (inline, by reference, in a list or a quote, entity-encoded, protocol-relative) ends as
    an ``href`` or a ``src`` here, and keeps it only if it matches _SAFE_LINK or _SAFE_IMAGE. Tags other
    than MARKDOWN_TAGS, scripts and event handlers included, are shown as text. (The feedback
    template renders the cell again: an HTML block without a blank line is left as it is.)
    attachments: the cell's (an image pasted into it), rendered in place as data URIs; one the cell
    names but does not hold, or that is not an image, is left out.
    """
    import bleach
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    images = {
        name: {kind: data for kind, data in bundle.items() if kind in _IMAGE_KINDS and isinstance(data, str)}
        for name, bundle in (attachments if isinstance(attachments, dict) else {}).items()
        if isinstance(bundle, dict)
    }

    def render(text: str, pasted: dict) -> str:
        return MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=pasted)).render(text)

    try:
        html = render(markdown, {name: bundle for name, bundle in images.items() if bundle})
    except Exception:  # "missing attachment", or whatever the renderer makes of one: no image, not no feedback
        html = render(markdown.replace("attachment:", "missing-attachment:"), {})
    # bleach's own check of an address comes first: relative ones pass only with "http" allowed, images
    # as data with "data"; _attribute then keeps only what it allows (no http address, no data link)
    protocols = ["http", "https", "data"]
    cleaner = bleach.Cleaner(tags=MARKDOWN_TAGS, attributes=_attribute, protocols=protocols, filters=[_page_filter()])
    # The page renders the cell again, where a \r (an &#13; decoded) is a line break: a blank line would end
    # this HTML block there, and what follows it be read as Markdown again, links and images as written.
    clean = cleaner.clean(html).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line if line.strip() else "<!---->" for line in clean.strip().split("\n")]
    return '<div class="autograder-markdown">\n' + "\n".join(lines) + "\n</div>"


class SanitizeFeedback(SanitizeHTML):
    """nbconvert's SanitizeHTML for outputs, and more (see the module).

    Outputs: no Markdown (shown as its text), no metadata but numeric widths and heights (an
    image's file name becomes its source). Markdown cells: rendered and cleaned (safe_markdown).
    """

    # nbconvert's preprocessors are off unless enabled (nbgrader's are on): registered is not enough.
    enabled = Bool(True).tag(config=True)
    # bleach's attributes for HTML outputs, with links to anchors only (nbconvert keeps http(s) and mailto)
    attributes = Any(default_value=_output_attribute).tag(config=True)

    max_string_chars = Integer(2**20, help="An output's longer text or data is cut to this many characters.").tag(
        config=True
    )
    max_notebook_chars = Integer(16 * 2**20, help="Outputs past this many characters in all are dropped.").tag(
        config=True
    )
    # The HTML parser's time grows with the square of the tags left open (3.7 s for 500 in one Markdown cell,
    # 9.5 s for 4,000 in one output; an autograded notebook not finished in time is not shown at all).
    max_tags = Integer(20_000, help="Tags parsed in a notebook; past them, HTML shows as text.").tag(config=True)
    max_output_tags = Integer(2_000, help="Tags parsed in one HTML output; more: it shows as text.").tag(config=True)
    max_cell_tags = Integer(200, help="Tags parsed in one Markdown cell's own HTML; more: shown as text.").tag(
        config=True
    )

    # nbconvert's Markdown (mistune's math) takes time growing with the square of a cell's unclosed delimiters:
    # 120,000 characters of an escaped backslash and "(" repeated took 90 s (a review); the course's longest
    # Markdown cell has 3,098.
    max_markdown_chars = Integer(20_000, help="A Markdown cell is cut to this many characters.").tag(config=True)

    def preprocess(self, nb, resources):
        self._chars = self._tags = 0
        return super().preprocess(nb, resources)

    def _parsed(self, text: str, most: int) -> bool:
        """Whether the HTML in text may be parsed (its tags within most, and the notebook's within max_tags)."""
        tags = len(_TAG.findall(text))
        if tags > most or self._tags + tags > self.max_tags:
            return False
        self._tags += tags
        return True

    def sanitize_html_tags(self, html_str: str) -> str:
        """nbconvert's cleaning of an HTML output, and a link that kept no address shown as its text; HTML
        of too many tags (max_output_tags, max_tags) is shown as text."""
        import bleach
        from bleach.css_sanitizer import CSSSanitizer

        if not self._parsed(html_str, self.max_output_tags):
            return no_math_links(html.escape(html_str))

        cleaner = bleach.Cleaner(
            tags=self.tags,
            attributes=self.attributes,
            strip=self.strip,
            strip_comments=self.strip_comments,
            css_sanitizer=CSSSanitizer(allowed_css_properties=self.styles),
            filters=[_page_filter()],
        )
        return cleaner.clean(html_str)

    def _bounded(self, outputs: list) -> list:
        """Outputs with every string cut to max_string_chars, none past max_notebook_chars in all.

        nbgrader's LimitOutput counts the lines of streams only: one display of 300 MB of text
        would otherwise reach the autograded notebook and the feedback whole.
        """
        kept = []
        for output in outputs:
            for key in ("text", "evalue"):
                if isinstance(output.get(key), str):
                    output[key] = _cut(output[key], self.max_string_chars)
            data = output.get("data")
            for kind, value in list(data.items()) if isinstance(data, dict) else []:
                if not isinstance(value, dict):  # JSON data stays as it is; text, as lines or not, is cut
                    data[kind] = _cut(_text(value), self.max_string_chars)
            if isinstance(output.get("traceback"), list):
                output["traceback"] = [_cut(str(line), self.max_string_chars) for line in output["traceback"][:200]]
            size = len(json.dumps(dict(output), default=str))
            if self._chars + size > self.max_notebook_chars:
                note = "[output dropped: this notebook's outputs are too large for the feedback]\n"
                kept.append(NotebookNode(output_type="stream", name="stdout", text=note))
                break
            self._chars += size
            kept.append(output)
        return kept

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown":
            source = _cut(cell.source, self.max_markdown_chars)
            source = source if self._parsed(source, self.max_cell_tags) else escape_tags(source)
            cell.source = safe_markdown(source, cell.get("attachments"))
            return cell, resources
        if cell.cell_type == "raw":  # shown as it is where its format is HTML: as text, entities too
            cell.source = escape_tags(no_math_links(cell.source.replace("&", "&amp;")))
            return cell, resources
        if "outputs" in cell:
            cell.outputs = self._bounded(list(cell.outputs))
        for output in cell.get("outputs", []):
            data = output.get("data")
            if isinstance(data, dict) and "text/markdown" in data:
                data.setdefault("text/plain", _text(data.pop("text/markdown")))
            if isinstance(data, dict) and "text/latex" in data:  # typeset by MathJax (escaped: no entity in it)
                data["text/latex"] = no_math_links(_text(data["text/latex"]))
            if "metadata" in output:
                output["metadata"] = _sizes(output["metadata"])
        return super().preprocess_cell(cell, resources, cell_index)


def _text(value) -> str:
    """An output's data as one string: as it is, or its lines joined (anything else: nothing)."""
    if isinstance(value, list):
        return "".join(map(str, value))
    return value if isinstance(value, str) else ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} more characters cut]"


def _sizes(metadata) -> dict:
    """Of an output's metadata, the numeric width and height of each kind of data only."""
    if not isinstance(metadata, dict):
        return {}
    out = {}
    for kind, value in metadata.items():
        if isinstance(value, dict):
            size = {k: v for k, v in value.items() if k in ("width", "height") and isinstance(v, (int, float))}
            if size:
                out[kind] = size
    return out
