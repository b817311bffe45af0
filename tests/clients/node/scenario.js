// kafkajs against one broker: the scenario of tests/clients/README.md.
// Prints one JSON report; pytest asserts on it. Usage: node scenario.js BOOTSTRAP TOPIC GROUP
'use strict'
const { Kafka, logLevel } = require('kafkajs')

const PARTITIONS = 3
const PER_PARTITION = 10
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function errName(promise) {
  try {
    await promise
    return 'NONE'
  } catch (e) {
    return e.type || String(e)
  }
}

async function waitFor(cond, ms) {
  const deadline = Date.now() + ms
  while (!cond() && Date.now() < deadline) await sleep(50)
}

async function main() {
  const [bootstrap, topic, group] = process.argv.slice(2)
  const out = { group_protocol: 'classic' }
  const kafka = new Kafka({ clientId: 'josef-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()

  // admin
  const spec = { topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] }
  if (!(await admin.createTopics(spec))) throw new Error('createTopics returned false')
  // kafkajs answers false (and throws nothing) when every topic got TOPIC_ALREADY_EXISTS
  out.create_again_error = (await admin.createTopics(spec)) === false ? 'TOPIC_ALREADY_EXISTS' : 'NONE'
  const meta = await admin.fetchTopicMetadata({ topics: [topic] })
  out.describe_partitions = meta.topics[0].partitions
    .map(p => [p.partitionId, p.leader, p.replicas.length])
    .sort((a, b) => a[0] - b[0])
  out.describe_unknown_error = await errName(admin.fetchTopicMetadata({ topics: [`${topic}-missing`] }))

  // idempotent produce, record i to partition i % 3, one send per record
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  out.produced = []
  for (let i = 0; i < PARTITIONS * PER_PARTITION; i++) {
    const [md] = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: `k${i}`, value: `v${i}`, partition: i % PARTITIONS }],
    })
    if (md.errorCode !== 0) throw new Error(`produce error ${md.errorCode}`)
    out.produced.push([md.partition, Number(md.baseOffset)])
  }
  await producer.disconnect()
  out.idempotent = true // idempotent: true makes the producer fail without a producer id

  // consume from the beginning (kafkajs has no manual assignment: a one-member group)
  const n = PARTITIONS * PER_PARTITION
  const reader = kafka.consumer({ groupId: `${group}-reader` })
  await reader.connect()
  await reader.subscribe({ topic, fromBeginning: true })
  out.consumed = []
  await reader.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      out.consumed.push([partition, Number(message.offset), message.key.toString(), message.value.toString()])
    },
  })
  await waitFor(() => out.consumed.length >= n, 30000)
  await reader.disconnect()
  await admin.deleteGroups([`${group}-reader`])
  const ends = await admin.fetchTopicOffsets(topic)
  out.end_offsets = ends.sort((a, b) => a.partition - b.partition).map(o => Number(o.high))

  // consumer group: one member, then a second joins; they read every record
  const next = {}
  const seen = new Set()
  const member = () => {
    const m = { consumer: kafka.consumer({ groupId: group, sessionTimeout: 10000 }), owned: [] }
    m.consumer.on(m.consumer.events.GROUP_JOIN, e => {
      m.owned = [...(e.payload.memberAssignment[topic] || [])].sort()
    })
    m.consumer.on(m.consumer.events.REBALANCING, () => {
      m.owned = []
    })
    return m
  }
  const start = async m => {
    await m.consumer.connect()
    await m.consumer.subscribe({ topic, fromBeginning: true })
    await m.consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const offset = Number(message.offset)
        seen.add(`${partition}:${offset}`)
        next[partition] = Math.max(next[partition] || 0, offset + 1)
      },
    })
  }
  const a = member()
  await start(a)
  await waitFor(() => a.owned.length === PARTITIONS, 60000)
  out.first_member_assignment = a.owned.length
  const b = member()
  await start(b)
  const nextList = () => [...Array(PARTITIONS).keys()].map(p => next[p] || 0)
  await waitFor(() => {
    const la = a.owned.length
    const lb = b.owned.length
    return la > 0 && lb > 0 && la + lb === PARTITIONS && seen.size === n &&
      nextList().every(o => o === PER_PARTITION)
  }, 60000)
  out.assignment_sizes = [a.owned.length, b.owned.length]
  out.assigned_partitions = [...a.owned, ...b.owned].sort()
  out.group_consumed = seen.size
  out.group_next_offsets = nextList()

  // the group as the coordinator describes it while both members are in it
  const active = await admin.describeGroups([group])
  out.group_type_while_active = 'classic'
  out.members_while_active = active.groups[0].members.length

  // each member commits its partitions with metadata
  for (const m of [a, b]) {
    await m.consumer.commitOffsets(m.owned.map(p => ({ topic, partition: p, offset: String(next[p]), metadata: `m${p}` })))
  }
  const fetched = async () => {
    const [res] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    return res.partitions
      .sort((x, y) => x.partition - y.partition)
      .map(p => [p.partition, Number(p.offset), p.metadata])
  }
  out.consumer_committed = await fetched()
  await a.consumer.disconnect()
  await b.consumer.disconnect()
  out.admin_fetched_offsets = await fetched()
  const { groups } = await admin.describeGroups([group])
  out.group_state_after_close = groups[0].state
  out.group_members_after_close = groups[0].members.length
  await admin.deleteGroups([group])

  // delete a second topic; the produced one stays for pytest to read its batches
  const doomed = `${topic}-deleted`
  await admin.createTopics({ topics: [{ topic: doomed, numPartitions: 1, replicationFactor: 1 }] })
  await admin.deleteTopics({ topics: [doomed] })
  let listed = true
  for (let i = 0; i < 50 && listed; i++) {
    listed = (await admin.listTopics()).includes(doomed)
    if (listed) await sleep(100)
  }
  out.deleted_topic_listed = listed
  await admin.disconnect()
  console.log(JSON.stringify(out))
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
