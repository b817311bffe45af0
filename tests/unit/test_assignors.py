"""Server-side assignors (uniform, range): validity, balance and stickiness properties."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.group.assignors import (
    ASSIGNORS,
    GroupAssignment,
    GroupSpec,
    MemberSpec,
    PartitionAssignorError,
    RangeAssignor,
    TopicId,
    UniformAssignor,
    get_assignor,
)

TOPICS = [uuid.UUID(int=i + 1) for i in range(4)]
T1, T2, T3, _ = TOPICS


def spec_from(
    subs: Mapping[str, frozenset[TopicId]], current: GroupAssignment | None = None
) -> GroupSpec:
    current = current or {}
    return GroupSpec(
        {
            m: MemberSpec(
                subscribed_topic_ids=s,
                assignment={t: frozenset(p) for t, p in current.get(m, {}).items()},
            )
            for m, s in subs.items()
        }
    )


def check_valid(
    result: GroupAssignment, subs: Mapping[str, frozenset[TopicId]], topics: Mapping[TopicId, int]
) -> None:
    assert set(result) <= set(subs)
    seen: dict[tuple[TopicId, int], str] = {}
    for member_id, assignment in result.items():
        for topic_id, parts in assignment.items():
            assert topic_id in subs[member_id], "assigned a topic the member does not subscribe to"
            for p in parts:
                assert 0 <= p < topics[topic_id]
                assert (topic_id, p) not in seen, "partition assigned twice"
                seen[(topic_id, p)] = member_id
    wanted = {(t, p) for s in subs.values() for t in s if t in topics for p in range(topics[t])}
    assert set(seen) == wanted, "some subscribed partition is unassigned"


def counts(result: GroupAssignment) -> dict[str, int]:
    return {m: sum(len(p) for p in a.values()) for m, a in result.items()}


def moved(before: GroupAssignment, after: GroupAssignment) -> int:
    owner_before = {(t, p): m for m, a in before.items() for t, ps in a.items() for p in ps}
    owner_after = {(t, p): m for m, a in after.items() for t, ps in a.items() for p in ps}
    return sum(1 for tp, m in owner_after.items() if tp in owner_before and owner_before[tp] != m)


topics_st = st.dictionaries(st.sampled_from(TOPICS), st.integers(0, 12), min_size=1)
member_ids_st = st.lists(
    st.text("abcdefgh", min_size=1, max_size=4), min_size=1, max_size=7, unique=True
)


@st.composite
def homogeneous_case(draw: st.DrawFn) -> tuple[dict[str, frozenset[TopicId]], dict[TopicId, int]]:
    topics = draw(topics_st)
    members = draw(member_ids_st)
    subscribed = frozenset(draw(st.sets(st.sampled_from(TOPICS), min_size=1)))
    return {m: subscribed for m in members}, topics


@st.composite
def heterogeneous_case(draw: st.DrawFn) -> tuple[dict[str, frozenset[TopicId]], dict[TopicId, int]]:
    topics = draw(topics_st)
    members = draw(member_ids_st)
    subs = {m: frozenset(draw(st.sets(st.sampled_from(TOPICS)))) for m in members}
    return subs, topics


@st.composite
def random_current(
    draw: st.DrawFn, subs: Mapping[str, frozenset[TopicId]], topics: Mapping[TopicId, int]
) -> GroupAssignment:
    """An arbitrary (possibly invalid) previous target assignment."""
    current: GroupAssignment = {m: {} for m in subs}
    members = sorted(subs)
    for topic_id in TOPICS:
        for p in range(topics.get(topic_id, 0) + 2):
            holder = draw(st.sampled_from([None, *members]))
            if holder is not None:
                current[holder].setdefault(topic_id, set()).add(p)
    return current


@pytest.mark.parametrize("name", sorted(ASSIGNORS))
@settings(max_examples=150, deadline=None)
@given(case=heterogeneous_case(), data=st.data())
def test_every_partition_assigned_once_to_a_subscriber(
    name: str,
    case: tuple[dict[str, frozenset[TopicId]], dict[TopicId, int]],
    data: st.DataObject,
) -> None:
    subs, topics = case
    current = data.draw(random_current(subs, topics))
    result = get_assignor(name).assign(spec_from(subs, current), topics)
    check_valid(result, subs, topics)


@settings(max_examples=200, deadline=None)
@given(case=homogeneous_case(), data=st.data())
def test_uniform_homogeneous_is_balanced(
    case: tuple[dict[str, frozenset[TopicId]], dict[TopicId, int]], data: st.DataObject
) -> None:
    subs, topics = case
    current = data.draw(random_current(subs, topics))
    result = UniformAssignor().assign(spec_from(subs, current), topics)
    check_valid(result, subs, topics)
    c = counts(result)
    assert max(c.values()) - min(c.values()) <= 1


@settings(max_examples=200, deadline=None)
@given(case=homogeneous_case())
def test_range_is_balanced_per_topic(
    case: tuple[dict[str, frozenset[TopicId]], dict[TopicId, int]],
) -> None:
    subs, topics = case
    result = RangeAssignor().assign(spec_from(subs), topics)
    check_valid(result, subs, topics)
    for topic_id in next(iter(subs.values())):
        per_member = [len(a.get(topic_id, ())) for a in result.values()]
        assert max(per_member) - min(per_member) <= 1
        # Contiguous ranges.
        for a in result.values():
            parts = sorted(a.get(topic_id, ()))
            assert parts == list(range(parts[0], parts[0] + len(parts))) if parts else True


@pytest.mark.parametrize("name", sorted(ASSIGNORS))
@settings(max_examples=150, deadline=None)
@given(case=heterogeneous_case(), data=st.data())
def test_rerun_moves_nothing(
    name: str,
    case: tuple[dict[str, frozenset[TopicId]], dict[TopicId, int]],
    data: st.DataObject,
) -> None:
    subs, topics = case
    current = data.draw(random_current(subs, topics))
    assignor = get_assignor(name)
    first = assignor.assign(spec_from(subs, current), topics)
    second = assignor.assign(spec_from(subs, first), topics)
    assert second == first


@settings(max_examples=200, deadline=None)
@given(case=homogeneous_case(), newcomer=st.text("xyz", min_size=5, max_size=6))
def test_uniform_adding_a_member_moves_only_what_balance_requires(
    case: tuple[dict[str, frozenset[TopicId]], dict[TopicId, int]], newcomer: str
) -> None:
    subs, topics = case
    assignor = UniformAssignor()
    before = assignor.assign(spec_from(subs), topics)
    subscribed = next(iter(subs.values()))
    grown = {**subs, newcomer: subscribed}
    after = assignor.assign(spec_from(grown, before), topics)
    check_valid(after, grown, topics)
    total = sum(topics.get(t, 0) for t in subscribed)
    min_quota, _extra = divmod(total, len(grown))
    # Each old member gives up only what exceeds its new quota, and nothing moves between
    # old members: the partitions that move all go to the newcomer.
    assert moved(before, after) == counts(after)[newcomer]
    assert counts(after)[newcomer] in (min_quota, min_quota + 1)
    for m in subs:
        kept = {(t, p) for t, ps in after[m].items() for p in ps}
        had = {(t, p) for t, ps in before[m].items() for p in ps}
        assert kept <= had


@settings(max_examples=200, deadline=None)
@given(case=homogeneous_case(), data=st.data())
def test_uniform_removing_a_member_moves_only_its_partitions(
    case: tuple[dict[str, frozenset[TopicId]], dict[TopicId, int]], data: st.DataObject
) -> None:
    subs, topics = case
    if len(subs) < 2:
        return
    assignor = UniformAssignor()
    before = assignor.assign(spec_from(subs), topics)
    leaver = data.draw(st.sampled_from(sorted(subs)))
    shrunk = {m: s for m, s in subs.items() if m != leaver}
    after = assignor.assign(spec_from(shrunk, before), topics)
    check_valid(after, shrunk, topics)
    for m in shrunk:
        had = {(t, p) for t, ps in before[m].items() for p in ps}
        kept = {(t, p) for t, ps in after[m].items() for p in ps}
        assert had <= kept, "a remaining member lost a partition"


@settings(max_examples=150, deadline=None)
@given(case=heterogeneous_case())
def test_uniform_heterogeneous_balances_within_a_topic(
    case: tuple[dict[str, frozenset[TopicId]], dict[TopicId, int]],
) -> None:
    subs, topics = case
    result = UniformAssignor().assign(spec_from(subs), topics)
    check_valid(result, subs, topics)
    c = counts(result)
    # No single move to another subscriber of the same topic would improve balance.
    for m, assignment in result.items():
        for topic_id in assignment:
            for other, other_subs in subs.items():
                if topic_id in other_subs:
                    assert c[m] - c[other] <= 1


def test_uniform_example_six_partitions_three_members() -> None:
    subs = {m: frozenset({T1}) for m in ("a", "b", "c")}
    result = UniformAssignor().assign(spec_from(subs), {T1: 6})
    assert counts(result) == {"a": 2, "b": 2, "c": 2}
    # One member leaves: its two partitions are split, nobody else moves.
    after = UniformAssignor().assign(spec_from({"a": subs["a"], "b": subs["b"]}, result), {T1: 6})
    assert result["a"][T1] <= after["a"][T1] and result["b"][T1] <= after["b"][T1]


def test_uniform_heterogeneous_example() -> None:
    # a: T1 (3 partitions) only; b: T1 and T2 (3 partitions).
    subs = {"a": frozenset({T1}), "b": frozenset({T1, T2})}
    result = UniformAssignor().assign(spec_from(subs), {T1: 3, T2: 3})
    check_valid(result, subs, {T1: 3, T2: 3})
    assert result["a"] == {T1: {0, 1, 2}}
    assert result["b"] == {T2: {0, 1, 2}}


def test_range_examples() -> None:
    subs = {m: frozenset({T1, T2}) for m in ("m1", "m2")}
    result = RangeAssignor().assign(spec_from(subs), {T1: 3, T2: 3})
    assert result == {"m1": {T1: {0, 1}, T2: {0, 1}}, "m2": {T1: {2}, T2: {2}}}
    # Static members sort first, by instance id.
    spec = GroupSpec(
        {
            "m1": MemberSpec(frozenset({T1})),
            "m2": MemberSpec(frozenset({T1}), instance_id="z"),
            "m3": MemberSpec(frozenset({T1}), instance_id="a"),
        }
    )
    assert RangeAssignor().assign(spec, {T1: 3}) == {
        "m3": {T1: {0}},
        "m2": {T1: {1}},
        "m1": {T1: {2}},
    }


def test_unknown_topics_and_empty_groups() -> None:
    assert UniformAssignor().assign(GroupSpec({}), {T1: 3}) == {}
    subs = {"a": frozenset({T3})}
    assert UniformAssignor().assign(spec_from(subs), {T1: 3}) == {"a": {}}
    assert RangeAssignor().assign(spec_from(subs), {T1: 3}) == {"a": {}}
    with pytest.raises(PartitionAssignorError):
        get_assignor("sticky")
