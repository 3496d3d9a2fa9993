"""YAML aliases that expand to a huge or endless tree ("billion laughs"), found before any walk.

Composing keeps an alias as a second reference to one node, so such a file composes at once;
it is every later walk (line index, construction, substitution, validation) that expands it:
nine lines of nine aliases each took 2 GB and 13 s before a MemoryError. Sizes are counted once
per node here, so the check itself stays small. Used for config.yaml and templates' meta.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from hub.core.errors import HubError

MAX_EXPANDED_NODES = 100_000  # the shipped config has ~300 nodes; an alias bomb has billions


@dataclass(frozen=True, slots=True)
class AliasProblem:
    """Where the expansion blows up: the innermost key whose value is too big, and why."""

    key: str
    line: int
    reason: str


def alias_problem(
    root: yaml.Node | None, max_nodes: int = MAX_EXPANDED_NODES
) -> AliasProblem | None:
    """The alias that makes ``root`` expand past ``max_nodes`` nodes (or into itself), if any."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise _Recursive(node)
        in_progress.add(key)
        total = 1 + sum(size(child) for _name, child in _children(node))
        in_progress.discard(key)
        sizes[key] = total
        return total

    try:
        if root is None or size(root) <= max_nodes:
            return None
    except _Recursive as exc:
        return AliasProblem(
            "", exc.node.start_mark.line + 1, "YAML 别名引用了自身 (recursive alias)"
        )
    # Name the innermost key whose value is too big: the line that multiplies.
    node, path = root, []
    while True:
        big = next(((n, v) for n, v in _children(node, keys=False) if size(v) > max_nodes), None)
        if big is None:
            break
        path.append(big[0])
        node = big[1]
    return AliasProblem(
        ".".join(path),
        node.start_mark.line + 1,
        f"YAML 别名展开后有 {size(node)} 个节点，超过上限 {max_nodes}（疑似别名炸弹 alias bomb）",
    )


class _Recursive(HubError):
    def __init__(self, node: yaml.Node) -> None:
        super().__init__("recursive alias")
        self.node = node


def _children(node: yaml.Node, *, keys: bool = True) -> list[tuple[str, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        values = [(str(k.value), v) for k, v in node.value]
        return [("", k) for k, _v in node.value] + values if keys else values
    if isinstance(node, yaml.SequenceNode):
        return [(str(i), v) for i, v in enumerate(node.value)]
    return []
