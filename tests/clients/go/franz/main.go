// franz-go (kgo, kadm, kmsg) against one broker: the scenario of tests/clients/README.md.
// Prints one JSON report; pytest asserts on it.
// Usage: franz BOOTSTRAP TOPIC GROUP [classic|consumer]
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

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const partitions, perPartition = 3, 10

type report map[string]any

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func errName(err error) string {
	if err == nil {
		return "NONE"
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

// member is one consumer group member and the partitions it owns.
type member struct {
	cl    *kgo.Client
	mu    sync.Mutex
	owned map[int32]bool
}

func newMember(bootstrap, topic, group, protocol string) *member {
	m := &member{owned: map[int32]bool{}}
	opts := []kgo.Opt{kgo.SessionTimeout(10 * time.Second)}
	if protocol == "consumer" { // KIP-848: the broker assigns, with the range assignor
		opts = []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer())}
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.SeedBrokers(bootstrap), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
		}),
	)...)
	must(err)
	m.cl = cl
	return m
}

func (m *member) assigned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []int32{}
	for p := range m.owned {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// poll reads for a short while; records land in next (partition -> next offset) and seen.
func (m *member) poll(next map[int32]int64, seen map[[2]int64]bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	fs := m.cl.PollFetches(ctx)
	fs.EachRecord(func(r *kgo.Record) {
		seen[[2]int64{int64(r.Partition), r.Offset}] = true
		if r.Offset+1 > next[r.Partition] {
			next[r.Partition] = r.Offset + 1
		}
	})
}

func main() {
	bootstrap, topic, group := os.Args[1], os.Args[2], os.Args[3]
	protocol := "classic"
	if len(os.Args) > 4 {
		protocol = os.Args[4]
	}
	if protocol == "txn" { // the third argument is then the transactional id
		runTxn(bootstrap, topic, group)
		return
	}
	ctx := context.Background()
	out := report{"group_protocol": protocol}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	must(err)
	defer cl.Close()
	adm := kadm.NewClient(cl)

	// admin
	created, err := adm.CreateTopics(ctx, partitions, 1, nil, topic)
	must(err)
	must(created[topic].Err)
	again, err := adm.CreateTopics(ctx, partitions, 1, nil, topic)
	must(err)
	out["create_again_error"] = errName(again[topic].Err)
	details, err := adm.ListTopics(ctx, topic)
	must(err)
	described := [][]int{}
	for _, p := range details[topic].Partitions.Sorted() {
		described = append(described, []int{int(p.Partition), int(p.Leader), len(p.Replicas)})
	}
	out["describe_partitions"] = described
	missing, err := adm.ListTopics(ctx, topic+"-missing")
	must(err)
	out["describe_unknown_error"] = errName(missing[topic+"-missing"].Err)

	// idempotent produce (franz-go's default), record i to partition i % 3
	n := partitions * perPartition
	produced := make([][]int64, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		idx := i
		rec := &kgo.Record{Topic: topic, Partition: int32(i % partitions),
			Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			defer wg.Done()
			must(err)
			produced[idx] = []int64{int64(r.Partition), r.Offset}
		})
	}
	wg.Wait()
	out["produced"] = produced
	out["idempotent"] = true // idempotent writes are on unless DisableIdempotentWrite

	// consume assigned partitions from the start
	offsets := map[string]map[int32]kgo.Offset{topic: {}}
	for p := int32(0); p < partitions; p++ {
		offsets[topic][p] = kgo.NewOffset().AtStart()
	}
	reader, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumePartitions(offsets))
	must(err)
	consumed := [][]any{}
	deadline := time.Now().Add(30 * time.Second)
	for len(consumed) < n && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		reader.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			consumed = append(consumed, []any{r.Partition, r.Offset, string(r.Key), string(r.Value)})
		})
		cancel()
	}
	reader.Close()
	out["consumed"] = consumed
	ends, err := adm.ListEndOffsets(ctx, topic)
	must(err)
	endList := []int64{}
	for p := int32(0); p < partitions; p++ {
		o, _ := ends.Lookup(topic, p)
		endList = append(endList, o.Offset)
	}
	out["end_offsets"] = endList

	// consumer group: one member, then a second joins; they read every record
	next := map[int32]int64{}
	seen := map[[2]int64]bool{}
	a := newMember(bootstrap, topic, group, protocol)
	deadline = time.Now().Add(60 * time.Second)
	for len(a.assigned()) < partitions && time.Now().Before(deadline) {
		a.poll(next, seen)
	}
	out["first_member_assignment"] = len(a.assigned())
	b := newMember(bootstrap, topic, group, protocol)
	done := func() bool {
		la, lb := len(a.assigned()), len(b.assigned())
		if la == 0 || lb == 0 || la+lb != partitions || len(seen) < n {
			return false
		}
		for p := int32(0); p < partitions; p++ {
			if next[p] != perPartition {
				return false
			}
		}
		return true
	}
	for !done() && time.Now().Before(deadline) {
		a.poll(next, seen)
		b.poll(next, seen)
	}
	out["assignment_sizes"] = []int{len(a.assigned()), len(b.assigned())}
	all := append(a.assigned(), b.assigned()...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	out["assigned_partitions"] = all
	out["group_consumed"] = len(seen)
	nextList := []int64{}
	for p := int32(0); p < partitions; p++ {
		nextList = append(nextList, next[p])
	}
	out["group_next_offsets"] = nextList

	// the group as the coordinator describes it while both members are in it
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Groups = []string{group}
	described848, err := cgd.RequestWith(ctx, cl)
	must(err)
	if g := described848.Groups[0]; g.ErrorCode == 0 {
		out["group_type_while_active"], out["members_while_active"] = "consumer", len(g.Members)
	} else {
		active, err := adm.DescribeGroups(ctx, group)
		must(err)
		out["group_type_while_active"], out["members_while_active"] = "classic", len(active[group].Members)
	}

	// each member commits its partitions with metadata, in its generation
	for _, m := range []*member{a, b} {
		memberID, generation := m.cl.GroupMetadata()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = group, memberID, generation
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic = topic
		for _, p := range m.assigned() {
			part := kmsg.NewOffsetCommitRequestTopicPartition()
			meta := fmt.Sprintf("m%d", p)
			part.Partition, part.Offset, part.Metadata = p, next[p], &meta
			t.Partitions = append(t.Partitions, part)
		}
		req.Topics = append(req.Topics, t)
		resp, err := req.RequestWith(ctx, m.cl)
		must(err)
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				must(kerr.ErrorForCode(rp.ErrorCode))
			}
		}
	}
	fetched := func(c *kgo.Client) [][]any {
		resps, err := kadm.NewClient(c).FetchOffsets(ctx, group)
		must(err)
		rows := [][]any{}
		for p := int32(0); p < partitions; p++ {
			o, ok := resps.Lookup(topic, p)
			if !ok {
				rows = append(rows, nil)
				continue
			}
			must(o.Err)
			rows = append(rows, []any{p, o.At, o.Metadata})
		}
		return rows
	}
	out["consumer_committed"] = fetched(a.cl)
	a.cl.Close()
	b.cl.Close()
	out["admin_fetched_offsets"] = fetched(cl)
	groups, err := adm.DescribeGroups(ctx, group)
	must(err)
	out["group_state_after_close"] = groups[group].State
	out["group_members_after_close"] = len(groups[group].Members)
	_, err = adm.DeleteGroups(ctx, group)
	must(err)

	// delete a second topic; the produced one stays for pytest to read its batches
	doomed := topic + "-deleted"
	_, err = adm.CreateTopics(ctx, 1, 1, nil, doomed)
	must(err)
	deleted, err := adm.DeleteTopics(ctx, doomed)
	must(err)
	must(deleted[doomed].Err)
	listed := true
	for i := 0; i < 50 && listed; i++ {
		names, err := adm.ListTopics(ctx)
		must(err)
		listed = names.Has(doomed)
		if listed {
			time.Sleep(100 * time.Millisecond)
		}
	}
	out["deleted_topic_listed"] = listed
	enc, err := json.Marshal(out)
	must(err)
	fmt.Println(string(enc))
}
