"""Execute one figure notebook for the book: jupytext source -> papermill -> executed .ipynb.

Each figure is a jupytext percent file ``notebooks/NAME.py`` with one cell tagged
``parameters``. This module converts it, checks the requested parameters against the ones
the notebook declares (before starting a kernel), executes it with papermill in this
interpreter's kernel, hides papermill's injected-parameters cell from the page, refuses
outputs a reader should not see (stderr, warnings, bare object reprs) and writes the result
atomically, so an interrupted run never leaves a half-written notebook that Make would take
as up to date. The book itself renders the executed notebooks with execution off.

Usage: ``python -m sftrl.book run 00_the_task --profile cpu --out _build/book/figures/00_the_task.ipynb -p seed 7``
       ``python -m sftrl.book --help-notebook 00_the_task``   (the parameters, as papermill prints them)
       ``python -m sftrl.book list``                          (the figure notebooks the book's toc lists)
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sftrl import paths
from sftrl.errors import SftrlError
from sftrl.book.site_check import STRAY_OUTPUT  # what a reader must not see, checked here and in the browser

#: the kernel papermill starts; resolved to this interpreter (see :func:`ensure_kernel`)
KERNEL = "python3"
#: the toc folder whose entries are executed notebooks (``figures/NAME`` -> notebooks/NAME.py)
FIGURES_DIR = "figures"
#: papermill's tag on the cell it injects, and the tag that makes the book drop a cell
INJECTED_TAG = "injected-parameters"
REMOVE_TAG = "remove-cell"
#: tag of the note this module adds when a page was executed with non-default parameters
OVERRIDE_TAG = "parameter-overrides"


class NotebookError(RuntimeError):
    """An executed notebook failed or produced output a reader should not see."""


# --------------------------------------------------------------------------- names


def notebook_names() -> list[str]:
    """Every notebook source under ``notebooks/`` (without ``.py``), sorted."""
    return sorted(p.stem for p in paths.NOTEBOOKS.glob("*.py"))


def toc_notebooks(toc: Path | None = None) -> list[str]:
    """The figure notebooks the book lists, in toc order (entries ``figures/NAME``).

    The Makefile reads the same entries with ``sed``; a test checks the two agree.
    """
    import yaml

    toc = toc or paths.BOOK / "_toc.yml"
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            entry = node.get("file")
            if isinstance(entry, str) and entry.startswith(FIGURES_DIR + "/"):
                found.append(entry.split("/", 1)[1].removesuffix(".ipynb"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(toc.read_text()))
    return found


def notebook_source(name: str) -> Path:
    """``notebooks/NAME.py``; SftrlError listing the valid names when there is none."""
    path = paths.NOTEBOOKS / f"{name}.py"
    if not re.fullmatch(r"[A-Za-z0-9_]+", name) or not path.is_file():
        raise SftrlError(f"unknown notebook {name!r}; valid names: {', '.join(notebook_names()) or '(none)'}")
    return path


def read_notebook(name: str):
    """The notebook as an nbformat node, with this project's kernel recorded in it."""
    import jupytext

    nb = jupytext.read(notebook_source(name))
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3 (sftrl)", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


# --------------------------------------------------------------------------- parameters


def notebook_parameters(name: str) -> dict[str, dict[str, str]]:
    """The parameters cell as papermill reads it: ``{name: {inferred_type_name, default, help}}``."""
    import nbformat
    import papermill

    nb = read_notebook(name)
    with tempfile.TemporaryDirectory(prefix="sftrl-inspect-") as tmp:
        path = Path(tmp) / f"{name}.ipynb"
        nbformat.write(nb, path)
        return papermill.inspect_notebook(str(path))


def resolve_value(text: str) -> Any:
    """Type a ``-p`` value as papermill's command line does: bool, None, int, float, else str."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def check_parameters(name: str, given: dict[str, Any], declared: dict[str, dict[str, str]]) -> None:
    """SftrlError naming any parameter the notebook does not declare, before executing."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise SftrlError(
            f"notebook {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters: {', '.join(declared) or '(none)'}"
        )


#: notebook parameters that hold a comma-separated list of numbers, each checked on its own
NUMBER_LISTS = ("fractions", "tail_fractions", "swap_fractions")


def check_values(given: dict[str, Any], declared: dict[str, dict[str, str]]) -> None:
    """The values of a page's parameters, checked before a kernel starts, by the rules the
    library applies (:func:`sftrl.config.validate` and :data:`sftrl.config.ANALYSIS_RULES`):
    SftrlError names the first bad setting, its value and what is allowed.

    ``profile`` with the run settings (``sft_steps``, ``rl_from_steps``, ...) is made into
    the configuration the page will make, so a bad value there fails as ``--set`` would.
    """
    from sftrl import config
    from sftrl.weights.checkpoints import parse_kinds
    from sftrl.weights.edits import layer_blocks

    run_names = set(config.override_names())
    for key, value in given.items():
        if value is None or key in run_names:
            continue
        if key in NUMBER_LISTS and isinstance(value, str):
            try:
                value = tuple(float(v) for v in value.replace(",", " ").split())
            except ValueError:
                raise SftrlError(f"{key}={value!r}: give comma-separated numbers, e.g. '0.2,0.5'") from None
        if key in ("kinds",):
            parse_kinds(str(value))
        elif key == "layer_blocks":
            known = layer_blocks(4)
            bad = [b.strip() for b in str(value).split(",") if b.strip() and b.strip() not in known]
            if bad:
                raise SftrlError(f"layer_blocks={value!r}: unknown block(s) {bad}; choose from {', '.join(known)}")
        else:
            config.check_setting(key, value)
    default = declared.get("profile", {}).get("default", "'cpu'").strip("'\"")
    cfg = config.profile(str(given.get("profile", default)),
                         **{k: v for k, v in given.items() if k in run_names})
    start = given.get("start_step")
    if isinstance(start, int):
        config.check_kept("start_step", [start], cfg.sft.steps, cfg.sft.checkpoints,
                          minus_one="where the book's main RL model starts")
    if given.get("model_base") is not None:  # a model the page cannot reach fails here, not in its kernel
        from sftrl.training import train

        train.check_base(cfg)


def overrides(given: dict[str, Any], declared: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The given parameters whose value differs from the notebook's default."""
    changed = {}
    for key, value in given.items():
        try:
            default = ast.literal_eval(declared[key]["default"])
        except (ValueError, SyntaxError):
            default = object()  # a default that is not a literal: report the value
        if value != default or type(value) is not type(default):
            changed[key] = value
    return changed


def format_help(name: str, declared: dict[str, dict[str, str]]) -> str:
    """The parameters as a short table (what ``papermill --help-notebook`` shows)."""
    lines = [f"Parameters of notebooks/{name}.py (override with -p NAME VALUE):"]
    for key, p in declared.items():
        lines.append(f"  {key}: {p['inferred_type_name']} (default {p['default']})  {p['help']}".rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- execution


def _runs_this_python(argv0: str) -> bool:
    # jupyter_client replaces a bare "python"/"python3"/"python3.X" with sys.executable
    bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    return argv0 in bare or os.path.abspath(argv0) == os.path.abspath(sys.executable)


def ensure_kernel() -> None:
    """Make kernel ``python3`` start this interpreter (the venv's), never a system python."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")  # the venv's kernels before a user's
    try:
        argv0 = KernelSpecManager().get_kernel_spec(KERNEL).argv[0]
    except NoSuchKernel:
        argv0 = ""
    if not _runs_this_python(argv0):
        from ipykernel.kernelspec import install

        install(kernel_name=KERNEL, prefix=sys.prefix)
        argv0 = KernelSpecManager().get_kernel_spec(KERNEL).argv[0]
        if not _runs_this_python(argv0):
            raise SftrlError(f"kernel {KERNEL!r} starts {argv0!r}, not {sys.executable!r}; remove that kernelspec")


def reader_problems(nb) -> list[str]:
    """Outputs a reader should not see: stderr streams (warnings, progress bars), error
    outputs, and results shown only as a bare object repr (e.g. ``<Figure size ...>``)."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream" and out.get("name") == "stderr":
                problems.append(f"cell {index} writes to stderr: {out.get('text', '').strip()[:200]!r}")
            elif kind == "error":
                problems.append(f"cell {index} raised {out.get('ename')}: {out.get('evalue')}")
            else:
                text = out.get("text", "") if kind == "stream" else out.get("data", {}).get("text/plain", "")
                text = "".join(text) if isinstance(text, list) else text
                only_text = kind == "stream" or set(out.get("data", {})) == {"text/plain"}
                if only_text and (match := STRAY_OUTPUT.search(text)):
                    problems.append(f"cell {index} shows {match.group(0)!r}: {text.strip()[:200]!r}")
    return problems


def _mark_cells(nb, changed: dict[str, Any], name: str) -> None:
    """Drop the injected-parameters cell from the page; say on the page which values differ."""
    import nbformat

    position = None
    for index, cell in enumerate(nb.cells):
        tags = cell.metadata.setdefault("tags", [])
        if INJECTED_TAG in tags:
            if REMOVE_TAG not in tags:
                tags.append(REMOVE_TAG)
            position = index + 1
        elif "parameters" in tags and position is None:
            position = index + 1
    if changed and position is not None:
        values = ", ".join(f"`{k} = {v!r}`" for k, v in changed.items())
        note = nbformat.v4.new_markdown_cell(
            f"```{{note}}\nThis page was executed with {values}, overriding the defaults above"
            f" (`python -m sftrl.book --help-notebook {name}` lists them).\n```"
        )
        note.metadata["tags"] = [OVERRIDE_TAG]
        nb.cells.insert(position, note)


def execute(nb, out: Path, parameters: dict[str, Any], *, name: str, changed: dict[str, Any] | None = None):
    """Execute ``nb`` with papermill and write it to ``out`` atomically; return the result.

    The kernel runs in ``out``'s folder, so a stray relative write lands under ``_build``,
    never in the source tree. On failure the partial notebook is kept as
    ``NAME.failed.ipynb`` beside ``out`` for inspection, and ``out`` is left untouched.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    ensure_kernel()
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    failed = out.with_name(f"{out.stem}.failed.ipynb")
    for stale in out.parent.glob(f".{out.stem}.tmp-*.ipynb"):  # left by a run that was killed
        stale.unlink(missing_ok=True)
    # a hidden temporary name in the same folder, so os.replace is atomic; papermill wants .ipynb
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.tmp-", suffix=".ipynb", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            result = papermill.execute_notebook(
                nb,
                str(tmp),
                parameters=parameters,
                kernel_name=KERNEL,
                language="python",
                cwd=str(out.parent),
                progress_bar=False,
                request_save_on_cell_execute=False,
                # the kernel's own log (e.g. its TCP-transport notice) is not the reader's business
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        except PapermillExecutionError as exc:
            os.replace(tmp, failed)
            raise NotebookError(
                f"notebook {name!r} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} (see {failed})"
            ) from None
        _mark_cells(result, changed or {}, name)
        problems = reader_problems(result)
        nbformat.write(result, tmp)
        if problems:
            os.replace(tmp, failed)
            raise NotebookError(f"notebook {name!r}: " + "; ".join(problems) + f" (see {failed})")
        os.replace(tmp, out)
        failed.unlink(missing_ok=True)
        return result
    finally:
        tmp.unlink(missing_ok=True)


def run(name: str, out: Path, *, profile: str | None = None, model_base: str | None = None,
        params: dict[str, Any] | None = None):
    """Check the parameters, then execute notebooks/NAME.py into ``out``.

    ``profile`` and ``model_base`` (the whole book's run size and model) are passed only to
    a notebook that declares them; an explicit ``-p`` in ``params`` wins.
    """
    declared = notebook_parameters(name)
    given = dict(params or {})
    check_parameters(name, given, declared)
    for key, value in (("profile", profile), ("model_base", model_base)):
        if value not in (None, "") and key in declared:
            given.setdefault(key, value)
    check_values(given, declared)
    return execute(read_notebook(name), out, given, name=name, changed=overrides(given, declared))


# --------------------------------------------------------------------------- glue


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sftrl.book", description=__doc__.splitlines()[0])
    parser.add_argument("--help-notebook", metavar="NAME", help="print a notebook's parameters and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_run = sub.add_parser("run", help="execute notebooks/NAME.py into an .ipynb")
    p_run.add_argument("name", help="notebook name, e.g. 00_the_task")
    p_run.add_argument("--out", type=Path, required=True, help="executed notebook to write")
    p_run.add_argument("--profile", default=None, help="passed as parameter 'profile' when declared")
    p_run.add_argument("--model-base", default=None,
                       help="passed as parameter 'model_base' when declared (HF id or local path)")
    p_run.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
        help="override a parameter; VALUE is typed like papermill's -p (int, float, bool, None, str)",
    )
    sub.add_parser("list", help="print the figure notebooks listed in book/_toc.yml")
    p_diff = sub.add_parser("glue-diff", help="compare the glued values of two builds' executed notebooks")
    p_diff.add_argument("a", type=Path, help="folder of executed notebooks, e.g. _build/book/figures")
    p_diff.add_argument("b", type=Path, help="the other build's folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.help_notebook:
            print(format_help(args.help_notebook, notebook_parameters(args.help_notebook)))
        elif args.command == "list":
            print("\n".join(toc_notebooks()))
        elif args.command == "run":
            params = {key: resolve_value(value) for key, value in args.parameter}
            start = time.perf_counter()
            run(args.name, args.out, profile=args.profile, model_base=args.model_base, params=params)
            print(f"{args.name}: executed in {time.perf_counter() - start:.1f} s -> {args.out}")
        elif args.command == "glue-diff":
            from sftrl.book.pages import glue_diff

            lines = glue_diff(args.a, args.b)
            print("\n".join(lines) if lines else "every glued value agrees")
            return 1 if lines else 0
        else:
            parser.print_help()
            return 2
    except SftrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NotebookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
