"""One error tree (issue 12 item 4): every exception class is drawn in ``hub.core.errors``.

Every module of hub/ and channels/ is imported (but Alembic's migrations, which run only under
Alembic, and ``__main__`` modules, which run their program); each exception class defined at a
module's top level must be drawn in the module docstring's tree, or derive from a class of the
project that is. A new class outside the tree fails here until it is drawn or re-parented. The
drawing is held to the code too: each line names a real class (one outside ``hub.core.errors``
names its module first) and sits under the class it derives from.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

import channels
import hub
from hub.core import errors

# A tree line: the branch glyphs (none for a root), the class, then 2+ spaces and what it is.
# Continuation lines carry no ├/└ and do not start at the tree's left edge, so never match.
_ENTRY = re.compile(
    r"^    (?P<pre>(?:[│ ]   )*[├└]── )?(?P<name>[A-Za-z_][\w.]*)(?:\s{2,}(?P<rest>.*))?$"
)


@dataclass(frozen=True)
class Entry:
    name: str
    rest: str
    parent: Entry | None


def _modules() -> Iterator[ModuleType]:
    for package in (hub, channels):
        yield package
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            # __main__ modules run their program when imported.
            if ".migrations" not in info.name and not info.name.endswith(".__main__"):
                yield importlib.import_module(info.name)


def _project_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for module in _modules():
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and value not in found
            ):
                found.append(value)
    return found


def _entries() -> list[Entry]:
    entries: list[Entry] = []
    stack: list[Entry] = []  # the last entry drawn at each depth
    for line in (errors.__doc__ or "").splitlines():
        match = _ENTRY.match(line)
        if match is None:
            assert "── " not in line, f"a branch the test cannot read: {line!r}"
            continue
        depth = len(match["pre"] or "") // 4
        entry = Entry(match["name"], match["rest"] or "", stack[depth - 1] if depth else None)
        del stack[depth:]
        stack.append(entry)
        entries.append(entry)
    return entries


def _draws(entry: Entry, cls: type[BaseException]) -> bool:
    if entry.name != cls.__name__:
        return False
    return (
        cls.__module__ == errors.__name__
        or entry.rest.startswith(cls.__module__ + ":")
        or (entry.rest.startswith(cls.__module__ + " ("))
    )


def _root(name: str) -> type[BaseException]:
    if "." in name:
        module, _, attr = name.rpartition(".")
        root = getattr(importlib.import_module(module), attr)
    else:
        root = getattr(errors, name, None) or getattr(builtins, name)
    assert inspect.isclass(root), name
    assert issubclass(root, BaseException), name
    return root


def test_every_exception_class_is_in_the_tree() -> None:
    classes = _project_exceptions()
    # The walk did import the project.
    assert errors.HubError in classes
    assert len(classes) > 30
    entries = _entries()
    drawn = {cls for cls in classes if any(_draws(entry, cls) for entry in entries)}
    outside = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        if not any(issubclass(cls, ancestor) for ancestor in drawn)
    ]
    assert not outside, f"draw these in the hub.core.errors docstring, or re-parent them: {outside}"


def test_the_drawing_matches_the_code() -> None:
    classes = _project_exceptions()
    resolved: dict[Entry, type[BaseException]] = {}
    for entry in _entries():
        if entry.parent is None:
            resolved[entry] = _root(entry.name)
            continue
        matches = [cls for cls in classes if _draws(entry, cls)]
        assert len(matches) == 1, f"{entry.name} ({entry.rest[:40]}...) names {matches}"
        resolved[entry] = cls = matches[0]
        parent = resolved[entry.parent]
        assert parent in cls.__bases__, f"{cls.__qualname__} is drawn under {parent.__name__}"
    assert resolved[_entries()[0]] is errors.HubError
