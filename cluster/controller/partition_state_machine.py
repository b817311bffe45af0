"""The partition state machine (Kafka's ``ZkPartitionStateMachine``).

Transitions and what they do:

* NonExistent -> New: the assignment is known; nothing is written.
* New -> Online: leader = first live replica, ISR = live replicas, leader epoch 0; the state
  znode is created; LeaderAndIsr (is_new) to the ISR, UpdateMetadata to every broker.
* Online/Offline -> Online: a leader is elected with the given strategy and written with
  compare-and-set on the state znode (re-read and retried on BADVERSION); LeaderAndIsr to the
  replicas named by the election, UpdateMetadata to every broker.
* New/Online/Offline -> Offline and Offline -> NonExistent: only the cached state changes.

Moves from an illegal previous state are skipped and logged, as Kafka does.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from cluster.controller.batch import ControllerBrokerRequestBatch
from cluster.controller.config import ControllerConfig, unclean_election_enabled
from cluster.controller.context import ControllerContext
from cluster.controller.election import (
    ElectionResult,
    ElectionStrategy,
    leader_for_controlled_shutdown,
    leader_for_offline,
    leader_for_preferred_replica,
    leader_for_reassign,
)
from cluster.controller.model import LeaderAndIsr, LeaderIsrAndControllerEpoch, TopicPartition
from cluster.controller.states import PartitionState
from cluster.controller.zk_client import ControllerMovedError, ControllerZkClient

log = logging.getLogger(__name__)
state_change_log = logging.getLogger("josef.state.change.logger")

ElectionOutcome = LeaderAndIsr | Exception


class StateChangeFailedError(Exception):
    """A partition or replica could not be moved to the requested state."""


async def current_partition_states(
    zk: ControllerZkClient,
    context: ControllerContext,
    partitions: list[TopicPartition],
    from_cache: bool,
) -> dict[TopicPartition, LeaderIsrAndControllerEpoch]:
    """The states to decide from. Kafka reads every one from ZooKeeper; a first attempt here
    takes the controller's cache (ISR changes all pass through the controller) and only the
    missing ones from ZooKeeper. The writes that follow are compare-and-set on the cached
    znode version, so a stale entry fails with BADVERSION and that partition is then decided
    again from a fresh read: the decisions are Kafka's, with fewer round trips."""
    if not from_cache:
        return await zk.get_topic_partition_states(partitions)
    states: dict[TopicPartition, LeaderIsrAndControllerEpoch] = {}
    missing = []
    for tp in partitions:
        info = context.partition_leadership_info(tp)
        if info is None:
            missing.append(tp)
        else:
            states[tp] = info
    if missing:
        states.update(await zk.get_topic_partition_states(missing))
    return states


class PartitionStateMachine:
    """Moves partitions between :class:`PartitionState` s (see the module docstring)."""

    def __init__(
        self,
        controller_id: int,
        config: ControllerConfig,
        context: ControllerContext,
        zk: ControllerZkClient,
        batch: ControllerBrokerRequestBatch,
    ) -> None:
        self.controller_id = controller_id
        self.config = config
        self.context = context
        self.zk = zk
        self.batch = batch

    async def startup(self) -> None:
        """On becoming controller: classify every partition, then elect where needed."""
        self._initialize_partition_state()
        await self.trigger_online_partition_state_change()

    def _initialize_partition_state(self) -> None:
        context = self.context
        for tp in context.all_partitions:
            info = context.partition_leadership_info(tp)
            if info is None:
                context.put_partition_state(tp, PartitionState.NEW_PARTITION)
            elif context.is_replica_online(info.leader_and_isr.leader, tp):
                context.put_partition_state(tp, PartitionState.ONLINE_PARTITION)
            else:
                context.put_partition_state(tp, PartitionState.OFFLINE_PARTITION)

    async def trigger_online_partition_state_change(
        self, topic: str | None = None
    ) -> dict[TopicPartition, ElectionOutcome]:
        """Elect leaders for every New or Offline partition (of ``topic``), except topics
        queued for deletion."""
        states = (PartitionState.OFFLINE_PARTITION, PartitionState.NEW_PARTITION)
        partitions = [
            tp
            for tp in sorted(self.context.partitions_in_states(states, topic))
            if not self.context.is_topic_queued_up_for_deletion(tp.topic)
        ]
        return await self.handle_state_changes(
            partitions, PartitionState.ONLINE_PARTITION, ElectionStrategy.OFFLINE
        )

    async def handle_state_changes(
        self,
        partitions: Collection[TopicPartition],
        target: PartitionState,
        strategy: ElectionStrategy | None = None,
        allow_unclean: bool = False,
    ) -> dict[TopicPartition, ElectionOutcome]:
        """Move ``partitions`` to ``target`` and send the resulting requests. For target
        Online, returns each partition's new leadership or the error that stopped it."""
        if not partitions:
            return {}
        try:
            self.batch.new_batch()
            result = await self._do_handle_state_changes(
                list(partitions), target, strategy, allow_unclean
            )
            self.batch.send_requests_to_brokers(self.context.epoch)
            return result
        except ControllerMovedError:
            log.error(
                "Controller moved to another broker when moving some partitions to %s", target.name
            )
            raise
        except Exception as exc:
            log.exception("Error while moving some partitions to %s state", target.name)
            self.batch.clear()  # a half-built batch would make every later step fail
            return dict.fromkeys(partitions, exc)

    async def _do_handle_state_changes(
        self,
        partitions: list[TopicPartition],
        target: PartitionState,
        strategy: ElectionStrategy | None,
        allow_unclean: bool,
    ) -> dict[TopicPartition, ElectionOutcome]:
        context = self.context
        valid = []
        for tp in partitions:
            context.put_partition_state_if_not_exists(tp, PartitionState.NON_EXISTENT_PARTITION)
            current = context.partition_state(tp)
            if target.can_follow(current):
                valid.append(tp)
            else:
                self._log_invalid_transition(tp, current, target)

        if target is PartitionState.NEW_PARTITION:
            for tp in valid:
                state_change_log.info(
                    "Changed partition %s state from %s to %s with assigned replicas %s",
                    tp,
                    context.partition_state(tp).name,
                    target.name,
                    ",".join(map(str, context.partition_replica_assignment(tp))),
                )
                context.put_partition_state(tp, PartitionState.NEW_PARTITION)
            return {}

        if target is PartitionState.ONLINE_PARTITION:
            uninitialized = [
                tp for tp in valid if context.partition_state(tp) is PartitionState.NEW_PARTITION
            ]
            to_elect = [
                tp
                for tp in valid
                if context.partition_state(tp)
                in (PartitionState.OFFLINE_PARTITION, PartitionState.ONLINE_PARTITION)
            ]
            if uninitialized:
                for tp in await self._initialize_leader_and_isr_for_partitions(uninitialized):
                    info = context.partition_leadership_info(tp)
                    state_change_log.info(
                        "Changed partition %s from %s to %s with state %s",
                        tp,
                        context.partition_state(tp).name,
                        target.name,
                        info.leader_and_isr if info else None,
                    )
                    context.put_partition_state(tp, PartitionState.ONLINE_PARTITION)
            if not to_elect:
                return {}
            if strategy is None:
                raise ValueError("Election strategy is required when the target is Online")
            results = await self._elect_leader_for_partitions(to_elect, strategy, allow_unclean)
            for tp, outcome in results.items():
                if isinstance(outcome, LeaderAndIsr):
                    state_change_log.info(
                        "Changed partition %s from %s to %s with state %s",
                        tp,
                        context.partition_state(tp).name,
                        target.name,
                        outcome,
                    )
                    context.put_partition_state(tp, PartitionState.ONLINE_PARTITION)
            return results

        for tp in valid:  # Offline or NonExistent: only the cached state moves
            context.put_partition_state(tp, target)
        return {}

    async def _initialize_leader_and_isr_for_partitions(
        self, partitions: list[TopicPartition]
    ) -> list[TopicPartition]:
        context = self.context
        states: dict[TopicPartition, LeaderIsrAndControllerEpoch] = {}
        for tp in partitions:
            replicas = context.partition_replica_assignment(tp)
            live = [r for r in replicas if context.is_replica_online(r, tp)]
            if not live:
                self._log_failed(
                    tp,
                    PartitionState.NEW_PARTITION,
                    StateChangeFailedError(
                        f"Controller {self.controller_id} epoch {context.epoch} encountered "
                        f"error during state change of partition {tp} from New to Online, "
                        f"assigned replicas are [{','.join(map(str, replicas))}], live brokers "
                        f"are [{sorted(context.live_broker_ids)}]. No assigned replica is alive."
                    ),
                )
                continue
            states[tp] = LeaderIsrAndControllerEpoch(
                LeaderAndIsr.initial(live[0], live), context.epoch
            )
        if not states:
            return []
        try:
            created = await self.zk.create_topic_partition_states(states, context.epoch_zk_version)
        except ControllerMovedError:
            log.error("Controller moved to another broker when creating partition state znodes")
            raise
        except Exception as exc:
            for tp in states:
                self._log_failed(tp, PartitionState.NEW_PARTITION, exc)
            return []
        done = []
        for tp, error in created.items():
            if error is not None:
                self._log_failed(tp, PartitionState.NEW_PARTITION, error)
                continue
            info = states[tp]
            context.put_partition_leadership_info(tp, info)
            self.batch.add_leader_and_isr_request_for_brokers(
                info.leader_and_isr.isr,
                tp,
                info,
                context.partition_full_replica_assignment(tp),
                is_new=True,
            )
            done.append(tp)
        return done

    async def _elect_leader_for_partitions(
        self, partitions: list[TopicPartition], strategy: ElectionStrategy, allow_unclean: bool
    ) -> dict[TopicPartition, ElectionOutcome]:
        remaining = partitions
        finished: dict[TopicPartition, ElectionOutcome] = {}
        from_cache = True
        while remaining:
            done, remaining = await self._do_elect_leader_for_partitions(
                remaining, strategy, allow_unclean, from_cache
            )
            from_cache = False
            for tp, outcome in done.items():
                if isinstance(outcome, Exception):
                    self._log_failed(tp, self.context.partition_state(tp), outcome)
            finished.update(done)
            if remaining:
                log.info(
                    "Retrying leader election with strategy %s for partitions %s",
                    strategy.value,
                    [str(tp) for tp in remaining],
                )
        return finished

    async def _do_elect_leader_for_partitions(
        self,
        partitions: list[TopicPartition],
        strategy: ElectionStrategy,
        allow_unclean: bool,
        from_cache: bool = False,
    ) -> tuple[dict[TopicPartition, ElectionOutcome], list[TopicPartition]]:
        context = self.context
        try:
            states = await current_partition_states(self.zk, context, partitions, from_cache)
        except ControllerMovedError:
            raise
        except Exception as exc:
            return dict.fromkeys(partitions, exc), []
        failed: dict[TopicPartition, ElectionOutcome] = {}
        valid: list[tuple[TopicPartition, LeaderAndIsr]] = []
        for tp in partitions:
            info = states.get(tp)
            if info is None:
                failed[tp] = StateChangeFailedError(
                    f"LeaderAndIsr information doesn't exist for partition {tp} in "
                    f"{context.partition_state(tp).name} state"
                )
            elif info.controller_epoch > context.epoch:
                failed[tp] = StateChangeFailedError(
                    f"Aborted leader election for partition {tp} since the LeaderAndIsr path "
                    "was already written by another controller. This probably means that the "
                    f"current controller {self.controller_id} went through a soft failure and "
                    f"another controller was elected with epoch {info.controller_epoch}."
                )
            else:
                valid.append((tp, info.leader_and_isr))
        if not valid:
            return failed, []

        results = await self._elect(valid, strategy, allow_unclean)
        recipients: dict[TopicPartition, tuple[int, ...]] = {}
        recheck: list[TopicPartition] = []
        adjusted: dict[TopicPartition, LeaderAndIsr] = {}
        for result in results:
            tp = result.topic_partition
            if result.leader_and_isr is None:
                if from_cache:
                    recheck.append(tp)  # the cache may be behind ZooKeeper: decide again
                    continue
                failed[tp] = StateChangeFailedError(
                    f"Failed to elect leader for partition {tp} under strategy {strategy.value}"
                )
            else:
                adjusted[tp] = result.leader_and_isr
                recipients[tp] = result.live_replicas
        if not adjusted:
            return failed, recheck
        update = await self.zk.update_leader_and_isr(
            adjusted, context.epoch, context.epoch_zk_version
        )
        for tp, outcome in update.finished.items():
            if isinstance(outcome, LeaderAndIsr):
                info = LeaderIsrAndControllerEpoch(outcome, context.epoch)
                context.put_partition_leadership_info(tp, info)
                self.batch.add_leader_and_isr_request_for_brokers(
                    recipients[tp],
                    tp,
                    info,
                    context.partition_full_replica_assignment(tp),
                    is_new=False,
                )
        for tp in update.updates_to_retry:
            log.debug(
                "Controller failed to elect leader for partition %s: bad ZK version, will retry", tp
            )
        return {**update.finished, **failed}, [*update.updates_to_retry, *recheck]

    async def _elect(
        self,
        valid: list[tuple[TopicPartition, LeaderAndIsr]],
        strategy: ElectionStrategy,
        allow_unclean: bool,
    ) -> list[ElectionResult]:
        context = self.context
        if strategy is ElectionStrategy.OFFLINE:
            entries = await self._collect_unclean_leader_election_state(valid, allow_unclean)
            return leader_for_offline(context, self.config.leader_recovery_supported, entries)
        if strategy is ElectionStrategy.REASSIGN:
            return leader_for_reassign(context, valid)
        if strategy is ElectionStrategy.PREFERRED:
            return leader_for_preferred_replica(context, valid)
        return leader_for_controlled_shutdown(context, valid)

    async def _collect_unclean_leader_election_state(
        self, valid: list[tuple[TopicPartition, LeaderAndIsr]], allow_unclean: bool
    ) -> list[tuple[TopicPartition, LeaderAndIsr | None, bool]]:
        """Whether unclean election may be used, for partitions without a live ISR member:
        ``allow_unclean`` (an admin request), else the topic's unclean.leader.election.enable."""
        context = self.context
        without_live_isr = []
        with_live_isr = []
        for tp, lai in valid:
            if any(context.is_replica_online(r, tp) for r in lai.isr):
                with_live_isr.append((tp, lai))
            else:
                without_live_isr.append((tp, lai))
        out: list[tuple[TopicPartition, LeaderAndIsr | None, bool]] = []
        if allow_unclean:
            out.extend((tp, lai, True) for tp, lai in without_live_isr)
        elif without_live_isr:
            topics = {tp.topic for tp, _ in without_live_isr}
            configs: Mapping[str, Mapping[str, str]]
            try:
                configs = await self.zk.get_topic_configs(topics)
            except ControllerMovedError:
                raise
            except Exception as exc:
                for tp, _ in without_live_isr:
                    self._log_failed(tp, context.partition_state(tp), exc)
                out.extend((tp, None, False) for tp, _ in without_live_isr)
            else:
                for tp, lai in without_live_isr:
                    enabled = unclean_election_enabled(self.config, configs.get(tp.topic, {}))
                    out.append((tp, lai, enabled))
        out.extend((tp, lai, False) for tp, lai in with_live_isr)
        return out

    # -- logging ---------------------------------------------------------------------------------
    def _log_invalid_transition(
        self, tp: TopicPartition, current: PartitionState, target: PartitionState
    ) -> None:
        valid = ",".join(sorted(s.name for s in target.valid_previous_states))
        self._log_failed(
            tp,
            current,
            StateChangeFailedError(
                f"Partition {tp} should be in one of {valid} states before moving to "
                f"{target.name} state. Instead it is in {current.name} state"
            ),
            target,
        )

    def _log_failed(
        self,
        tp: TopicPartition,
        current: PartitionState,
        error: BaseException,
        target: PartitionState = PartitionState.ONLINE_PARTITION,
    ) -> None:
        state_change_log.error(
            "Controller %d epoch %d failed to change state for partition %s from %s to %s: %s",
            self.controller_id,
            self.context.epoch,
            tp,
            current.name,
            target.name,
            error,
        )
