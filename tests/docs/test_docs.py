"""The documentation stays true: links resolve, commands parse, cited tests and modules exist.

Reads README.md, every page of docs/, notebooks/README.md, data/README.md,
benchmarks/README.md and the markdown cells of the notebooks. Nothing here runs a command: a
`hiertcn ...` line is only parsed by the real argument parser, so a renamed or removed flag
fails here instead of in a user's shell.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from hiertcn_keras import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "notebooks" / "README.md",
                ROOT / "data" / "README.md", ROOT / "benchmarks" / "README.md"])
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# The team's working notes live outside the repository; nothing in it may point at them.
OUTSIDE_NOTES = tuple(name + ".md" for name in ("REFERENCE", "DESIGN", "STYLE"))


def markdown_of(path):
    """A page's markdown; for a notebook, its markdown cells joined."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text()


def without_code(text):
    """The text with fenced code blocks and inline code removed (links there are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every heading anchor of a markdown file or notebook (duplicates get -1, -2, ...)."""
    seen, result = {}, set()
    text = re.sub(r"^```.*?^```", "", markdown_of(path), flags=re.S | re.M)
    for line in text.splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.add(base if n == 0 else f"{base}-{n}")
    return result


def links(path):
    """Relative link targets of a page: `[text](target)`, minus URLs and mail links."""
    found = re.findall(r"\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)", without_code(markdown_of(path)))
    return [t for t in found if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def bash_lines(path):
    """Command lines of a page's ```bash blocks: continuations and quotes spanning lines joined."""
    lines = []
    for block in re.findall(r"^```(?:bash|sh|shell)\n(.*?)^```", path.read_text(), flags=re.S | re.M):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                tokens = shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on on the next line
                continue
            pending = ""
            if tokens:
                lines.append(tokens)
        assert not pending, f"{path.name}: unclosed quote in {pending!r}"
    return lines


def hiertcn_commands():
    """`(page, tokens after "hiertcn")` for every hiertcn command line in the docs."""
    commands = []
    for page in PAGES:
        for tokens in bash_lines(page):
            while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):  # VAR=value prefixes
                tokens = tokens[1:]
            if tokens and tokens[0] == "hiertcn":
                commands.append((page.relative_to(ROOT).as_posix(), tokens[1:]))
    return commands


@pytest.mark.parametrize("page", PAGES + NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_at_a_file_and_anchor(page):
    broken = []
    for target in links(page):
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix in (".md", ".ipynb") and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor} in {resolved.name}")
    assert not broken, broken


def test_the_link_checker_sees_a_broken_link(tmp_path):
    # The control: a page with one good and two bad links.
    (tmp_path / "b.md").write_text("# Queue-based mini-batches (B, S)\n")
    page = tmp_path / "a.md"
    page.write_text("[ok](b.md#queue-based-mini-batches-b-s) [gone](c.md) [bad](b.md#nope) `[code](x.md)`\n")
    assert links(page) == ["b.md#queue-based-mini-batches-b-s", "c.md", "b.md#nope"]
    assert anchors(tmp_path / "b.md") == {"queue-based-mini-batches-b-s"}


def test_nothing_in_the_repository_cites_the_teams_notes():
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    citing = []
    for name in files:
        path = ROOT / name
        if path.is_file() and path.suffix not in (".whl", ".parquet", ".gz", ".png", ".bin", ".keras"):
            text = path.read_text(errors="replace")
            citing += [f"{name}: {note}" for note in OUTSIDE_NOTES if note in text]
    assert not citing, citing


COMMANDS = hiertcn_commands()


def test_the_docs_hold_hiertcn_commands():
    verbs = {tokens[0] for _, tokens in COMMANDS if tokens}
    assert len(COMMANDS) >= 30 and {"prepare", "train", "evaluate", "serve", "recommend"} <= verbs


@pytest.mark.parametrize("page, tokens", COMMANDS, ids=[f"{p}: {' '.join(t)[:60]}" for p, t in COMMANDS])
def test_every_documented_command_parses(page, tokens):
    parser = cli.build_parser()
    if "--help" in tokens or "--version" in tokens:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(tokens)
        assert exit_info.value.code == 0
    else:
        parser.parse_args(tokens)  # raises SystemExit(2) on an unknown flag or a bad value


def test_the_command_checker_rejects_a_stale_flag():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["prepare", "--input", "a", "--out", "b", "--no-such-flag"])


def test_make_targets_and_scripts_in_the_docs_exist():
    makefile = (ROOT / "Makefile").read_text()
    missing = []
    for page in PAGES:
        for tokens in bash_lines(page):
            if tokens[0] == "make":
                missing += [f"{page.name}: make {t}" for t in tokens[1:] if "=" not in t
                            and not re.search(rf"^{re.escape(t)}:", makefile, flags=re.M)]
            if tokens[0] == "python" and len(tokens) > 1 and tokens[1].endswith(".py"):
                if not (ROOT / tokens[1]).is_file():
                    missing.append(f"{page.name}: {tokens[1]}")
    assert not missing, missing


def test_cited_tests_and_modules_exist():
    # `tests/x/test_y.py::test_name` and `hiertcn_keras/...py` paths named in the docs.
    text = "\n".join(markdown_of(p) for p in PAGES + NOTEBOOKS)
    missing = []
    for file, name in re.findall(r"(tests/[\w/]+\.py)::(\w+)", text):
        path = ROOT / file
        if not path.is_file() or not re.search(rf"^def {name}\(", path.read_text(), flags=re.M):
            missing.append(f"{file}::{name}")
    for file in set(re.findall(r"\b(hiertcn_keras/[\w/]+\.py)\b", text)):
        if not (ROOT / file).is_file():
            missing.append(file)
    assert not missing, missing


def module_file(name):
    """The source file of a `hiertcn_keras` module, or `None`."""
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_imports_in_python_examples_resolve():
    # Checked statically (no import, so no TensorFlow start-up): the module file exists and
    # defines, imports or lazily exports (by name) every imported name.
    statements = []
    for page in PAGES:
        for block in re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M):
            statements += [line for line in block.splitlines() if re.match(r"^(import|from) hiertcn_keras", line)]
    assert len(statements) >= 5
    missing = []
    for statement in statements:
        node = ast.parse(statement).body[0]
        if isinstance(node, ast.Import):
            missing += [a.name for a in node.names if module_file(a.name) is None]
            continue
        source = module_file(node.module)
        if source is None:
            missing.append(node.module)
            continue
        text = source.read_text()
        tree = ast.parse(text)
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        defined |= {a.asname or a.name for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
                    for a in n.names}
        for alias in node.names:
            submodule = module_file(f"{node.module}.{alias.name}")
            if alias.name not in defined and submodule is None and f'"{alias.name}"' not in text:
                missing.append(f"{node.module}.{alias.name}")
    assert not missing, missing
