// sarama (IBM/sarama) against one broker: the scenario of tests/clients/README.md.
// Prints one JSON report; pytest asserts on it. Usage: sarama BOOTSTRAP TOPIC GROUP
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

const partitions, perPartition = 3, 10

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// Kafka's names of the error codes the scenario expects.
var errNames = map[sarama.KError]string{
	sarama.ErrNoError:                 "NONE",
	sarama.ErrTopicAlreadyExists:      "TOPIC_ALREADY_EXISTS",
	sarama.ErrUnknownTopicOrPartition: "UNKNOWN_TOPIC_OR_PARTITION",
}

func errName(err error) string {
	if err == nil {
		return "NONE"
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		if name, ok := errNames[ke]; ok {
			return name
		}
		return fmt.Sprintf("KError(%d)", int16(ke))
	}
	return err.Error()
}

// member is one consumer group member: its session and what it read.
type member struct {
	group sarama.ConsumerGroup
	mu    *sync.Mutex // shared by both members: they write the same next/seen
	sess  sarama.ConsumerGroupSession
	owned []int32
	next  map[int32]int64
	seen  map[[2]int64]bool
}

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sess = s
	m.owned = append([]int32{}, s.Claims()[topicName]...)
	sort.Slice(m.owned, func(i, j int) bool { return m.owned[i] < m.owned[j] })
	return nil
}

func (m *member) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sess, m.owned = nil, nil
	return nil
}

func (m *member) ConsumeClaim(_ sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		m.mu.Lock()
		m.seen[[2]int64{int64(msg.Partition), msg.Offset}] = true
		if msg.Offset+1 > m.next[msg.Partition] {
			m.next[msg.Partition] = msg.Offset + 1
		}
		m.mu.Unlock()
	}
	return nil
}

var topicName string

func main() {
	bootstrap, topic, group := os.Args[1], os.Args[2], os.Args[3]
	if len(os.Args) > 4 && os.Args[4] == "txn" { // the third argument is the transactional id
		runTxn(bootstrap, topic, group)
		return
	}
	topicName = topic
	brokers := []string{bootstrap}
	out := map[string]any{"group_protocol": "classic"}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_9_0_0
	cfg.Metadata.AllowAutoTopicCreation = false
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	must(err)
	defer admin.Close()

	// admin
	must(admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false))
	out["create_again_error"] = errName(admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false))
	metas, err := admin.DescribeTopics([]string{topic})
	must(err)
	described := [][]int{}
	for _, p := range metas[0].Partitions {
		described = append(described, []int{int(p.ID), int(p.Leader), len(p.Replicas)})
	}
	sort.Slice(described, func(i, j int) bool { return described[i][0] < described[j][0] })
	out["describe_partitions"] = described
	missing, err := admin.DescribeTopics([]string{topic + "-missing"})
	must(err)
	out["describe_unknown_error"] = errName(missing[0].Err)

	// idempotent produce, record i to partition i % 3
	pcfg := sarama.NewConfig()
	pcfg.Version = sarama.V3_9_0_0
	pcfg.Producer.Idempotent = true
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	pcfg.Producer.Return.Successes = true
	pcfg.Producer.Partitioner = sarama.NewManualPartitioner
	pcfg.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer(brokers, pcfg)
	must(err)
	n := partitions * perPartition
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: int32(i % partitions),
			Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))}
	}
	must(producer.SendMessages(msgs))
	must(producer.Close())
	produced := [][]int64{}
	for _, m := range msgs {
		produced = append(produced, []int64{int64(m.Partition), m.Offset})
	}
	out["produced"] = produced
	out["idempotent"] = true // Producer.Idempotent: the producer refuses to start without it

	// consume assigned partitions from the oldest offset
	client, err := sarama.NewClient(brokers, cfg)
	must(err)
	consumer, err := sarama.NewConsumerFromClient(client)
	must(err)
	consumed := [][]any{}
	endList := []int64{}
	for p := int32(0); p < partitions; p++ {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		must(err)
		for len(consumed) < int(p+1)*perPartition {
			select {
			case msg := <-pc.Messages():
				consumed = append(consumed, []any{msg.Partition, msg.Offset, string(msg.Key), string(msg.Value)})
			case <-time.After(30 * time.Second):
				must(errors.New("timed out consuming"))
			}
		}
		must(pc.Close())
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		must(err)
		endList = append(endList, end)
	}
	must(consumer.Close())
	out["consumed"] = consumed
	out["end_offsets"] = endList

	// consumer group: one member, then a second joins; they read every record
	gcfg := sarama.NewConfig()
	gcfg.Version = sarama.V3_9_0_0
	gcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	gcfg.Consumer.Offsets.AutoCommit.Enable = false
	gcfg.Consumer.Group.Session.Timeout = 10 * time.Second
	next := map[int32]int64{}
	seen := map[[2]int64]bool{}
	var shared sync.Mutex
	ctx, stop := context.WithCancel(context.Background())
	var running sync.WaitGroup
	start := func() *member {
		g, err := sarama.NewConsumerGroup(brokers, group, gcfg)
		must(err)
		m := &member{group: g, mu: &shared, next: next, seen: seen}
		running.Add(1)
		go func() {
			defer running.Done()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "consume:", err)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
		return m
	}
	owned := func(m *member) []int32 {
		m.mu.Lock()
		defer m.mu.Unlock()
		return append([]int32{}, m.owned...)
	}
	a := start()
	deadline := time.Now().Add(60 * time.Second)
	for len(owned(a)) < partitions && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	out["first_member_assignment"] = len(owned(a))
	b := start()
	snapshot := func() (int, []int64) {
		shared.Lock()
		defer shared.Unlock()
		list := []int64{}
		for p := int32(0); p < partitions; p++ {
			list = append(list, next[p])
		}
		return len(seen), list
	}
	for time.Now().Before(deadline) {
		la, lb := len(owned(a)), len(owned(b))
		count, list := snapshot()
		if la > 0 && lb > 0 && la+lb == partitions && count == n && list[0] == perPartition &&
			list[1] == perPartition && list[2] == perPartition {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	out["assignment_sizes"] = []int{len(owned(a)), len(owned(b))}
	all := append(owned(a), owned(b)...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	out["assigned_partitions"] = all
	count, nextList := snapshot()
	out["group_consumed"] = count
	out["group_next_offsets"] = nextList

	// the group as the coordinator describes it while both members are in it
	active, err := admin.DescribeConsumerGroups([]string{group})
	must(err)
	out["group_type_while_active"], out["members_while_active"] = "classic", len(active[0].Members)

	// each member commits its partitions with metadata through its session
	for _, m := range []*member{a, b} {
		m.mu.Lock()
		sess, parts := m.sess, append([]int32{}, m.owned...)
		m.mu.Unlock()
		for _, p := range parts {
			sess.MarkOffset(topic, p, nextList[p], fmt.Sprintf("m%d", p))
		}
		sess.Commit()
	}
	fetched := func() [][]any {
		resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
		must(err)
		rows := [][]any{}
		for p := int32(0); p < partitions; p++ {
			blk := resp.GetBlock(topic, p)
			if blk.Err != sarama.ErrNoError {
				must(blk.Err)
			}
			rows = append(rows, []any{p, blk.Offset, blk.Metadata})
		}
		return rows
	}
	out["consumer_committed"] = fetched()
	stop()
	must(a.group.Close())
	must(b.group.Close())
	running.Wait()
	out["admin_fetched_offsets"] = fetched()
	groups, err := admin.DescribeConsumerGroups([]string{group})
	must(err)
	out["group_state_after_close"] = groups[0].State
	out["group_members_after_close"] = len(groups[0].Members)
	must(admin.DeleteConsumerGroup(group))

	// delete a second topic; the produced one stays for pytest to read its batches
	doomed := topic + "-deleted"
	must(admin.CreateTopic(doomed, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false))
	must(admin.DeleteTopic(doomed))
	listed := true
	for i := 0; i < 50 && listed; i++ {
		names, err := admin.ListTopics()
		must(err)
		_, listed = names[doomed]
		if listed {
			time.Sleep(100 * time.Millisecond)
		}
	}
	out["deleted_topic_listed"] = listed
	enc, err := json.Marshal(out)
	must(err)
	fmt.Println(string(enc))
}
