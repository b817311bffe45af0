// kafkajs transactions against one broker: commit, abort, commit on one partition, then
// read back with read_committed (kafkajs' default) and read_uncommitted, and fencing by a
// second producer with the same transactional id. Prints one JSON report; pytest asserts on
// it. Usage: node transactions.js BOOTSTRAP TOPIC TRANSACTIONAL_ID
'use strict'
const { Kafka, logLevel } = require('kafkajs')

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function readAll(kafka, topic, group, readUncommitted, count) {
  const consumer = kafka.consumer({ groupId: group, readUncommitted })
  const values = []
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => { values.push(message.value.toString()) } })
  const deadline = Date.now() + 60000
  while (values.length < count && Date.now() < deadline) await sleep(100)
  await sleep(500) // nothing more arrives
  await consumer.disconnect()
  return values
}

async function main() {
  const [bootstrap, topic, txnId] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: 'josef-kafkajs-txn', brokers: [bootstrap], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] })
  const out = {}
  const first = kafka.producer({ transactionalId: txnId, idempotent: true, maxInFlightRequests: 1 })
  await first.connect()
  for (const [values, commit] of [[['c0', 'c1', 'c2'], true], [['a3', 'a4'], false], [['c5'], true]]) {
    const txn = await first.transaction()
    await txn.send({ topic, messages: values.map(v => ({ key: v, value: v, partition: 0 })) })
    if (commit) await txn.commit(); else await txn.abort()
  }
  const second = kafka.producer({ transactionalId: txnId, idempotent: true, maxInFlightRequests: 1 })
  await second.connect()
  const txn = await second.transaction() // bumps the epoch: the first is fenced
  try {
    const stale = await first.transaction()
    await stale.send({ topic, messages: [{ key: 'z', value: 'z', partition: 0 }] })
    await stale.commit()
    out.fenced = 'NONE'
  } catch (e) {
    out.fenced = e.type || e.name
  }
  await txn.send({ topic, messages: [{ key: 'c6', value: 'c6', partition: 0 }] })
  await txn.commit()
  await first.disconnect()
  await second.disconnect()
  const offsets = await admin.fetchTopicOffsets(topic)
  out.end_offset = Number(offsets[0].high)
  await admin.disconnect()
  out.committed = await readAll(kafka, topic, `${txnId}-rc`, false, 5)
  out.uncommitted = await readAll(kafka, topic, `${txnId}-ru`, true, 7)
  console.log(JSON.stringify(out))
}

main().then(() => process.exit(0), e => { console.error(e); process.exit(1) })
