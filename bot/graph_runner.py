"""The engine's prediction graph run node after node, without dask: installed by
bot/rasa_start.py.

Rasa 3.6 runs its trained graph (tokenizer, featurizers, classifier, policies…) with
``DaskGraphRunner`` twice per message and again for each action it predicts. Each run
works out anew which nodes the targets need, builds a dask task graph of them and hands it
to dask's synchronous scheduler, which orders the tasks and runs them one by one in the
calling thread. Under load that bookkeeping was 3–4 % of the engine's time, for a handful
of nodes whose order never changes.

Here the order of each set of targets is worked out once and the nodes are called in it,
in the same thread, with the same inputs dask would pass: each node receives its parents'
``(name, output)`` pairs, an input given to ``run`` replaces the node of that name, and a
need nothing provides arrives as its bare name (the node then reports it, as under dask).
The results, and the errors raised, are the ones ``DaskGraphRunner`` gives;
tests/unit/test_graph_runner.py runs both on the same graphs.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner


class SequentialGraphRunner(DaskGraphRunner):
    """``DaskGraphRunner`` (nodes, hooks, results, errors) with the nodes run in an order
    worked out once per set of targets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The engine asks for a few fixed sets of targets (the NLU's, the policies'): one
        # entry each.
        self._orders: dict[tuple[str, ...], dict[str, tuple[str, ...]]] = {}

    def _order(self, targets: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """Every node the targets need, parents first, each with its parents' names."""
        order = self._orders.get(targets)
        if order is None:
            nodes = self._graph_schema.minimal_graph_schema(list(targets)).nodes
            order = {}

            def place(name: str) -> None:
                if name in order or name not in nodes:
                    return
                needs = tuple(nodes[name].needs.values())
                for parent in needs:
                    place(parent)
                order[name] = needs

            for name in nodes:
                place(name)
            self._orders[targets] = order
        return order

    def run(
        self, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
    ) -> dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        order = self._order(tuple(run_targets))
        results: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            # Dask's check: a string naming a node (or an input before it) would be read
            # as that node's result.
            if isinstance(value, str) and (value in order or value in results):
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure that none "
                    f"of the input names passed to the `run` method are the same as node "
                    f"names in the graph schema."
                )
            results[name] = (name, value)
        try:
            for name, needs in order.items():
                if name not in results:
                    node = self._instantiated_nodes[name]
                    results[name] = node(*(results.get(parent, parent) for parent in needs))
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(results[target] for target in run_targets)


def dask_runner_like(runner: SequentialGraphRunner) -> DaskGraphRunner:
    """Rasa's own runner on the same loaded nodes, to compare the two on one model."""
    dask = DaskGraphRunner.__new__(DaskGraphRunner)
    dask.__dict__.update(runner.__dict__)
    return dask


def install() -> None:
    """The engine loads its trained graph into this runner instead of dask's."""
    from rasa.core import processor

    processor.DaskGraphRunner = SequentialGraphRunner  # type: ignore[misc]
