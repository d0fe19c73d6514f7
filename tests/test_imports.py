"""The library's module structure: no import cycles, Snakemake never imported."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every module of src/ferflow -> the ferflow modules it imports (at the top or inside
    a function: a lazy import is still a dependency)."""
    modules = {_module_name(p): p for p in (SRC / "ferflow").rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from ferflow.models import zoo" imports the submodule ferflow.models.zoo
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                           else node.module for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_a_module_that_imports_it_back():
    graph = import_graph()
    assert len(graph) > 15 and "ferflow.data.faces" in graph["ferflow.data.ingest"]
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_library_never_imports_snakemake():
    for path in (SRC / "ferflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "snakemake" for n in names), path


def _reaches(graph, start):
    seen, todo = set(), [start]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_reading_data_does_not_depend_on_evaluation():
    """Image reading and face detection live low (ferflow.data.images), below both the folder
    reader and ferflow predict: the data layer never reaches the evaluation's modules."""
    graph = import_graph()
    assert _reaches(graph, "ferflow.data.images") <= {"ferflow", "ferflow.errors", "ferflow.schema"}
    for data in ("ferflow.data.ingest", "ferflow.data.folders", "ferflow.data.images"):
        assert not _reaches(graph, data) & {"ferflow.evaluation.predictions", "ferflow.inference.photos",
                                            "ferflow.models", "ferflow.training.train"}, data
    assert "ferflow.data.images" in graph["ferflow.data.folders"] and "ferflow.data.images" in graph["ferflow.inference.photos"]


# src/ferflow's layers, lowest first (docs/development.md, "Layout"): a module imports its own layer and
# those before it, never one after it
LAYERS = ("base", "data", "models", "training", "evaluation", "explanations", "inference",
          "pipeline", "cli")


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("errors", "io", "outputs", "schema", "tfsetup"):
        return "base"
    return parts[1]


def test_the_folders_are_layers_and_each_imports_only_those_below_it():
    graph = import_graph()
    assert {_layer(m) for m in graph} == set(LAYERS)  # every module in a known layer
    upward = [(m, d) for m, deps in graph.items() for d in deps
              if LAYERS.index(_layer(d)) > LAYERS.index(_layer(m))]
    assert upward == []


def test_no_module_imports_another_modules_private_names():
    """A name starting with "_" stays in its module (a shared helper is made public)."""
    private = []
    for path in (SRC / "ferflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ferflow"):
                private += [f"{_module_name(path)}: {node.module}.{a.name}"
                            for a in node.names if a.name.startswith("_")]
    assert private == []
