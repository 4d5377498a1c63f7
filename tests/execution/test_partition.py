from __future__ import annotations

import random

import networkx as nx
import pytest

from orchestrator.execution.partition import Shard, partition, platform_partition
from orchestrator.execution.schedule import remaining_paths

TREE = [("base", "rt-a"), ("base", "rt-b"), ("rt-a", "app1"), ("rt-a", "app2"), ("rt-b", "app3")]


def tree() -> nx.DiGraph:
    dag = nx.DiGraph(TREE)
    dag.add_node("lone")
    return dag


def test_every_target_is_placed_once_and_a_shared_base_once() -> None:
    shards = partition(tree(), list(tree()), {}, 3)
    placed = [t for s in shards for t in s.targets]
    assert sorted(placed) == sorted(tree())
    assert [s.label for s in shards] == ["1/3", "2/3", "3/3"]


def test_the_same_graph_and_durations_give_the_same_shards() -> None:
    durations = {"base": 30.0, "rt-a": 20.0, "rt-b": 5.0, "app1": 10.0}
    names = ["app3", "lone", "base", "rt-b", "app1", "rt-a", "app2"]
    first = partition(tree(), names, durations, 2)
    for seed in range(5):
        shuffled = names[:]
        random.Random(seed).shuffle(shuffled)
        dag = nx.DiGraph()
        dag.add_nodes_from(reversed(list(tree())))
        dag.add_edges_from(reversed(TREE))
        assert partition(dag, shuffled, dict(reversed(durations.items())), 2) == first


@pytest.mark.parametrize("ordered", [False, True])
def test_shards_say_which_shards_they_need(ordered: bool) -> None:
    dag = nx.gn_graph(200, seed=7).reverse()  # a random tree, edges parent -> child
    durations = {n: float(1 + n % 7) for n in dag}
    shards = partition(dag, list(dag), durations, 4, ordered=ordered)
    where = {t: s.index for s in shards for t in s.targets}
    for s in shards:
        wanted = {where[p] for t in s.targets for p in dag.predecessors(t)} - {s.index}
        assert set(s.needs) == wanted
    earlier = all(n < s.index for s in shards for n in s.needs)
    assert earlier if ordered else not earlier  # free, two shards need each other here


def test_free_shards_balance_close_to_the_bound_ordered_ones_less() -> None:
    dag = nx.gn_graph(200, seed=7).reverse()
    durations = {n: float(1 + n % 7) for n in dag}
    bound = max(sum(durations.values()) / 4, *remaining_paths(dag, durations).values())
    free = max(s.estimate_s or 0 for s in partition(dag, list(dag), durations, 4))
    ordered = max(s.estimate_s or 0 for s in partition(dag, list(dag), durations, 4, ordered=True))
    assert free / bound < 1.1
    assert ordered >= free


def test_balanced_by_durations_close_to_the_critical_path_bound() -> None:
    # base (10 s) then eight independent apps of 10 s: two runners finish in 50 s
    dag = nx.DiGraph([("base", f"app{i}") for i in range(8)])
    durations = dict.fromkeys(dag, 10.0)
    shards = partition(dag, list(dag), durations, 2)
    assert [s.estimate_s for s in shards] == [50.0, 50.0]
    assert [len(s.targets) for s in shards] == [5, 4]
    assert shards[1].needs == (1,)


def test_a_child_stays_with_its_parent_when_nothing_is_gained_by_moving_it() -> None:
    dag = nx.DiGraph([("base", "rt"), ("rt", "app")])
    dag.add_node("lib")
    shards = partition(dag, list(dag), {"base": 3.0, "rt": 1.0, "app": 1.0, "lib": 2.0}, 2)
    assert shards[0].targets == ("base", "rt", "app")
    assert shards[1].targets == ("lib",)
    assert shards[1].needs == ()


def test_no_durations_no_estimate() -> None:
    assert {s.estimate_s for s in partition(tree(), list(tree()), {}, 2)} == {None}


def test_more_shards_than_targets_leaves_some_empty() -> None:
    shards = partition(nx.DiGraph([("a", "b")]), ["a", "b"], {}, 3)
    assert [s.targets for s in shards] == [("a", "b"), (), ()]


def test_platforms_heaviest_first_onto_the_least_loaded() -> None:
    targets = {"base": ("linux/amd64", "linux/arm64", "linux/s390x"), "app": ("linux/amd64",)}
    weights = {"linux/amd64": 20.0, "linux/arm64": 10.0, "linux/s390x": 5.0}
    shards = platform_partition(weights, targets, 2)
    assert shards == [
        Shard(1, 2, ("base", "app"), (), 20.0, ("linux/amd64",)),
        Shard(2, 2, ("base",), (), 15.0, ("linux/arm64", "linux/s390x")),
    ]


def test_platform_shards_at_most_one_per_platform() -> None:
    with pytest.raises(ValueError, match="number of platforms"):
        platform_partition({"linux/amd64": 1.0}, {"a": ("linux/amd64",)}, 2)
