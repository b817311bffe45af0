"""The cluster controller: Kafka 3.9's ZooKeeper-mode ``KafkaController``.

Entry point: :class:`cluster.controller.api.KafkaController` (one per broker; the one that
wins ``/controller`` is active). The rest, in Kafka's terms:

* :mod:`.model`, :mod:`.states`, :mod:`.context` - partitions, replicas, assignments,
  leadership; the partition and replica state tables; the controller's cache of the cluster.
* :mod:`.election`, :mod:`.reassignment_rules` - leader election strategies and KIP-455
  rules, pure functions.
* :mod:`.partition_state_machine`, :mod:`.replica_state_machine`, :mod:`.topic_deletion` -
  the state machines and topic deletion.
* :mod:`.batch`, :mod:`.requests`, :mod:`.wire`, :mod:`.channel` - the LeaderAndIsr /
  UpdateMetadata / StopReplica requests of one step, their wire form, and one ordered
  sender per broker.
* :mod:`.events`, :mod:`.core`, :mod:`.topic_changes`, :mod:`.reassignment`,
  :mod:`.operations` - the single event queue and what each event does.
* :mod:`.zk_client`, :mod:`.kafka_zk` - what the controller needs from ZooKeeper, and its
  implementation over :mod:`cluster.zk` (every write fenced on ``/controller_epoch``).
* :mod:`.config` - the broker settings it reads.

Wiring into a broker (after the broker registered ``/brokers/ids/<id>``)::

    config = ControllerConfig.from_properties(props)
    controller = KafkaController(
        broker_id, zk_client, config,
        broker_channel_factory(broker_id, config.inter_broker_listener_name),
        SystemClock(),
    )
    await controller.startup()          # joins the election, returns at once
    ...
    await controller.shutdown()         # after the broker's controlled shutdown, before
                                        # the ZooKeeper session is closed
"""
