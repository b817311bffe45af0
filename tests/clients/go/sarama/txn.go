package main

// Transactions with sarama: commit, abort, commit on one partition, read back with
// read_committed and read_uncommitted, the end offset (markers count) and fencing by a
// second producer with the same transactional id. Usage: sarama BOOTSTRAP TOPIC TXN_ID txn

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

func txnConfig(txnID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_9_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Transaction.ID = txnID
	cfg.Producer.Transaction.Retry.Max = 1
	cfg.Net.MaxOpenRequests = 1
	return cfg
}

func saramaTxn(p sarama.SyncProducer, topic string, values []string, commit bool) error {
	if err := p.BeginTxn(); err != nil {
		return err
	}
	for _, v := range values {
		msg := &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder(v),
			Value: sarama.StringEncoder(v)}
		if _, _, err := p.SendMessage(msg); err != nil {
			return err
		}
	}
	if commit {
		return p.CommitTxn()
	}
	return p.AbortTxn()
}

func saramaRead(brokers []string, topic string, isolation sarama.IsolationLevel, count int) []string {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_9_0_0
	cfg.Consumer.IsolationLevel = isolation
	c, err := sarama.NewConsumer(brokers, cfg)
	must(err)
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	must(err)
	defer pc.Close()
	values := []string{}
	deadline := time.After(60 * time.Second)
	for len(values) < count {
		select {
		case m := <-pc.Messages():
			values = append(values, string(m.Value))
		case <-deadline:
			return values
		}
	}
	return values
}

func fencedName(err error) string {
	var ke sarama.KError
	switch {
	case err == nil:
		return "NONE"
	case errors.Is(err, sarama.ErrProducerFenced):
		return "PRODUCER_FENCED"
	case errors.Is(err, sarama.ErrInvalidProducerEpoch):
		return "INVALID_PRODUCER_EPOCH"
	case errors.As(err, &ke):
		return ke.Error()
	}
	return err.Error()
}

func runTxn(bootstrap, topic, txnID string) {
	brokers := []string{bootstrap}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_9_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	must(err)
	defer admin.Close()
	must(admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false))
	out := map[string]any{}
	first, err := sarama.NewSyncProducer(brokers, txnConfig(txnID))
	must(err)
	must(saramaTxn(first, topic, []string{"c0", "c1", "c2"}, true))
	must(saramaTxn(first, topic, []string{"a3", "a4"}, false))
	must(saramaTxn(first, topic, []string{"c5"}, true))
	second, err := sarama.NewSyncProducer(brokers, txnConfig(txnID)) // fences the first
	must(err)
	must(saramaTxn(second, topic, []string{"c6"}, true))
	out["fenced"] = fencedName(saramaTxn(first, topic, []string{"z"}, true))
	_ = first.Close()
	_ = second.Close()
	client, err := sarama.NewClient(brokers, cfg)
	must(err)
	end, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	must(err)
	client.Close()
	out["end_offset"] = end
	out["committed"] = saramaRead(brokers, topic, sarama.ReadCommitted, 5)
	out["uncommitted"] = saramaRead(brokers, topic, sarama.ReadUncommitted, 7)
	b, err := json.Marshal(out)
	must(err)
	fmt.Println(string(b))
}
