"""Griffe extensions for the API reference (build tooling: not part of the package, not a page).

- `IntegrationsPackage`: ``reward_judge.integrations`` lives in the ``integrations/`` folder. pyproject.toml
  installs that folder under that name (``package-dir``), so it imports as ``reward_judge.integrations``, but
  griffe (which mkdocstrings uses to read docstrings without importing) finds a package's submodules by
  walking its folder, and ``reward_judge/`` holds no ``integrations/``. When griffe has visited
  ``reward_judge/__init__.py``, this extension visits ``integrations/`` (and its subpackages) as
  ``reward_judge.integrations``, so relative imports and cross-references resolve as they do at run time.
- `OptionFields`: option fields are declared once, with their help text, by ``reward_judge.options.option(default,
  help)``; the help becomes the attribute's documentation and the default its value, so the reference lists
  ``JudgeConfig``'s (and every options class's) fields with their help, and signatures read ``max_new_tokens=512``.
- `ExampleSections`: the code's docstrings head their doctests ``Example:``; Google style (as griffe reads it)
  names that section ``Examples:``, and would otherwise render ``>>>`` lines as prose (where ``x["a"][0]`` even
  reads as a Markdown link). The section is read as an examples section; the docstrings stay as they are.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import griffe

ROOT = Path(__file__).resolve().parent.parent
PACKAGE, FOLDER, NAME = "reward_judge", ROOT / "integrations", "integrations"
EXAMPLE_HEADER = re.compile(r"^Example:[ \t]*$", re.MULTILINE)


class IntegrationsPackage(griffe.Extension):
    def on_module_members(self, *, node: Any, mod: griffe.Module, agent: Any, **kwargs: Any) -> None:
        if mod.path != PACKAGE or NAME in mod.members:
            return
        mod.set_member(NAME, self._visit(NAME, FOLDER, mod, agent))

    def _visit(self, name: str, folder: Path, parent: griffe.Module, agent: Any) -> griffe.Module:
        def visit(module_name: str, path: Path, module_parent: griffe.Module) -> griffe.Module:
            return griffe.visit(module_name, path, path.read_text(encoding="utf-8"), extensions=agent.extensions,
                                parent=module_parent, docstring_parser=agent.docstring_parser,
                                docstring_options=agent.docstring_options, lines_collection=agent.lines_collection,
                                modules_collection=agent.modules_collection)

        package = visit(name, folder / "__init__.py", parent)
        for path in sorted(folder.iterdir()):
            if path.suffix == ".py" and path.stem not in ("__init__", "__main__"):
                package.set_member(path.stem, visit(path.stem, path, package))
            elif path.is_dir() and (path / "__init__.py").is_file():
                package.set_member(path.name, self._visit(path.name, path, package, agent))
        return package


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and "Example:" in docstring.value:
            docstring.value = EXAMPLE_HEADER.sub("Examples:", docstring.value)


class OptionFields(griffe.Extension):
    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        call = getattr(node, "value", None)
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "option"):
            return
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        help_text = keywords.get("help", call.args[1] if len(call.args) > 1 else None)
        if attr.docstring is None and isinstance(help_text, ast.Constant) and isinstance(help_text.value, str):
            attr.docstring = griffe.Docstring(help_text.value, parent=attr, parser=agent.docstring_parser,
                                              parser_options=agent.docstring_options)
        default = keywords.get("default", call.args[0] if call.args else None)
        if default is not None:
            attr.value = ast.unparse(default)
        elif "default_factory" in keywords:
            attr.value = ast.unparse(keywords["default_factory"]) + "()"
