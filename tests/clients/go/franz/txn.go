package main

// Transactions with franz-go: commit, abort, commit on one partition, read back with
// read_committed and read_uncommitted, the end offset (markers count) and fencing by a
// second client with the same transactional id. Usage: franz BOOTSTRAP TOPIC TXN_ID txn

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func txnProducer(bootstrap, txnID string) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.TransactionalID(txnID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	must(err)
	return cl
}

func produceTxn(ctx context.Context, cl *kgo.Client, topic string, values []string, commit bool) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	for _, v := range values {
		r := &kgo.Record{Topic: topic, Partition: 0, Key: []byte(v), Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
			return err
		}
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	return cl.EndTransaction(ctx, end)
}

func readTxn(bootstrap, topic string, isolation kgo.IsolationLevel, count int) []string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.FetchIsolationLevel(isolation),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	must(err)
	defer cl.Close()
	values := []string{}
	deadline := time.Now().Add(60 * time.Second)
	for len(values) < count && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		fetches.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	return values
}

func runTxn(bootstrap, topic, txnID string) {
	ctx := context.Background()
	out := report{}
	admin, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	must(err)
	defer admin.Close()
	adm := kadm.NewClient(admin)
	created, err := adm.CreateTopics(ctx, 1, 1, nil, topic)
	must(err)
	must(created[topic].Err)

	first := txnProducer(bootstrap, txnID)
	must(produceTxn(ctx, first, topic, []string{"c0", "c1", "c2"}, true))
	must(produceTxn(ctx, first, topic, []string{"a3", "a4"}, false))
	must(produceTxn(ctx, first, topic, []string{"c5"}, true))
	second := txnProducer(bootstrap, txnID)
	must(produceTxn(ctx, second, topic, []string{"c6"}, true)) // its InitProducerId fences the first
	out["fenced"] = errName(produceTxn(ctx, first, topic, []string{"z"}, true))
	first.Close()
	second.Close()

	ends, err := adm.ListEndOffsets(ctx, topic)
	must(err)
	end, _ := ends.Lookup(topic, 0)
	out["end_offset"] = end.Offset
	out["committed"] = readTxn(bootstrap, topic, kgo.ReadCommitted(), 5)
	out["uncommitted"] = readTxn(bootstrap, topic, kgo.ReadUncommitted(), 7)
	b, err := json.Marshal(out)
	must(err)
	fmt.Println(string(b))
}
