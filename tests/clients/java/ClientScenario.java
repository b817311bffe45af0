// The Java client (org.apache.kafka:kafka-clients) against one broker: admin create/describe/
// delete, idempotent produce, consume, a two-member consumer group with a rebalance, commit
// and fetch of offsets. Prints one JSON object of what it saw; pytest asserts on it.
// The producer runs with enable.idempotence=true; pytest checks the stored batches' producer
// id and sequences. Usage: java -cp 'LIBS/*' ClientScenario.java BOOTSTRAP TOPIC GROUP [GROUP_PROTOCOL]
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.serialization.*;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.protocol.Errors;

public class ClientScenario {
    static final int PARTITIONS = 3, PER_PARTITION = 10;
    static final Map<String, Object> out = new LinkedHashMap<>();

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], group = args[2];
        String protocol = args.length > 3 ? args[3] : "classic";
        out.put("group_protocol", protocol);
        out.put("client_version", AppInfoParser.getVersion());
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get();
            out.put("create_again_error", errorName(() ->
                admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get()));
            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            List<Object> parts = new ArrayList<>();
            for (TopicPartitionInfo p : d.partitions()) parts.add(List.of(p.partition(), p.leader().id(), p.replicas().size()));
            out.put("describe_partitions", parts);
            out.put("describe_unknown_error", errorName(() ->
                admin.describeTopics(List.of(topic + "-missing")).allTopicNames().get()));
            produce(bootstrap, topic);
            consumeAssigned(bootstrap, topic);
            group(admin, bootstrap, topic, group, protocol);
            Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            List<Object> fetched = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                OffsetAndMetadata o = committed.get(new TopicPartition(topic, p));
                fetched.add(o == null ? null : List.of(p, o.offset(), o.metadata()));
            }
            out.put("admin_fetched_offsets", fetched);
            ConsumerGroupDescription gd = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            out.put("group_state_after_close", gd.state().toString());
            out.put("group_members_after_close", gd.members().size());
            admin.deleteConsumerGroups(List.of(group)).all().get();
            // The produced topic stays for pytest to read its stored batches; a second one
            // is created and deleted.
            String doomed = topic + "-deleted";
            admin.createTopics(List.of(new NewTopic(doomed, 1, (short) 1))).all().get();
            admin.deleteTopics(List.of(doomed)).all().get();
            boolean gone = false;
            for (int i = 0; i < 50 && !gone; i++) {
                gone = !admin.listTopics().names().get().contains(doomed);
                if (!gone) Thread.sleep(100);
            }
            out.put("deleted_topic_listed", !gone);
        }
        System.out.println(json(out));
    }

    interface Call { void run() throws Exception; }

    static String errorName(Call c) throws Exception {
        try { c.run(); return "NONE"; }
        catch (ExecutionException e) { return Errors.forException(e.getCause()).name(); }
    }

    static void produce(String bootstrap, String topic) throws Exception {
        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap);
        pp.put("enable.idempotence", "true");
        pp.put("acks", "all");
        pp.put("linger.ms", "5");
        try (Producer<String, String> producer = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
            List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < PARTITIONS * PER_PARTITION; i++)
                sent.add(producer.send(new ProducerRecord<>(topic, i % PARTITIONS, "k" + i, "v" + i)));
            producer.flush();
            List<Object> meta = new ArrayList<>();
            for (var f : sent) { RecordMetadata m = f.get(); meta.add(List.of(m.partition(), m.offset())); }
            out.put("produced", meta);
            out.put("idempotent", true);  // enable.idempotence=true: the producer fails without it
        }
    }

    static Properties consumerProps(String bootstrap) {
        Properties cp = new Properties();
        cp.put("bootstrap.servers", bootstrap);
        cp.put("auto.offset.reset", "earliest");
        cp.put("enable.auto.commit", "false");
        return cp;
    }

    static void consumeAssigned(String bootstrap, String topic) {
        try (Consumer<String, String> c = new KafkaConsumer<>(consumerProps(bootstrap), new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) tps.add(new TopicPartition(topic, p));
            c.assign(tps);
            c.seekToBeginning(tps);
            List<Object> got = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 30000;
            while (got.size() < PARTITIONS * PER_PARTITION && System.currentTimeMillis() < deadline)
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200)))
                    got.add(List.of(r.partition(), r.offset(), r.key(), r.value()));
            out.put("consumed", got);
            Map<TopicPartition, Long> ends = c.endOffsets(tps);
            List<Object> endList = new ArrayList<>();
            for (TopicPartition tp : tps) endList.add(ends.get(tp));
            out.put("end_offsets", endList);
        }
    }

    static void group(Admin admin, String bootstrap, String topic, String group, String protocol) throws Exception {
        Properties gp = consumerProps(bootstrap);
        gp.put("group.id", group);
        if (!protocol.equals("classic")) gp.put("group.protocol", protocol);
        else gp.put("session.timeout.ms", "10000");
        Consumer<String, String> a = new KafkaConsumer<>(gp, new StringDeserializer(), new StringDeserializer());
        Consumer<String, String> b = new KafkaConsumer<>(gp, new StringDeserializer(), new StringDeserializer());
        try {
            List<Object> seen = new ArrayList<>();
            a.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 60000;
            while (a.assignment().size() < PARTITIONS && System.currentTimeMillis() < deadline)
                for (var r : a.poll(Duration.ofMillis(100))) seen.add(List.of("a", r.partition(), r.offset()));
            out.put("first_member_assignment", a.assignment().size());
            // Rewind what the lone member read, so that after the rebalance every record is
            // read exactly once by the member that owns its partition.
            seen.clear();
            a.seekToBeginning(a.assignment());
            b.subscribe(List.of(topic));
            while ((a.assignment().isEmpty() || b.assignment().isEmpty()
                    || a.assignment().size() + b.assignment().size() != PARTITIONS)
                    && System.currentTimeMillis() < deadline) {
                a.poll(Duration.ofMillis(100));
                b.poll(Duration.ofMillis(100));
            }
            out.put("assignment_sizes", List.of(a.assignment().size(), b.assignment().size()));
            Set<Integer> all = new TreeSet<>();
            for (var tp : a.assignment()) all.add(tp.partition());
            for (var tp : b.assignment()) all.add(tp.partition());
            out.put("assigned_partitions", new ArrayList<>(all));
            a.seekToBeginning(a.assignment());
            b.seekToBeginning(b.assignment());
            Map<Integer, Long> next = new TreeMap<>();
            int count = 0;
            while (count < PARTITIONS * PER_PARTITION && System.currentTimeMillis() < deadline) {
                for (Consumer<String, String> c : List.of(a, b))
                    for (var r : c.poll(Duration.ofMillis(100))) {
                        count++;
                        next.put(r.partition(), r.offset() + 1);
                    }
            }
            out.put("group_consumed", count);
            out.put("group_next_offsets", new ArrayList<>(next.values()));
            // the group as the coordinator describes it while both members are in it
            ConsumerGroupDescription active = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            out.put("group_type_while_active", active.type().toString().toLowerCase(Locale.ROOT));
            out.put("members_while_active", active.members().size());
            for (Consumer<String, String> c : List.of(a, b)) {
                Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
                for (TopicPartition tp : c.assignment()) commit.put(tp, new OffsetAndMetadata(c.position(tp), "m" + tp.partition()));
                c.commitSync(commit);
            }
            Set<TopicPartition> tps = new HashSet<>();
            for (int p = 0; p < PARTITIONS; p++) tps.add(new TopicPartition(topic, p));
            List<Object> committed = new ArrayList<>();
            for (var e : new TreeMap<Integer, OffsetAndMetadata>(toMap(a.committed(tps))).entrySet())
                committed.add(List.of(e.getKey(), e.getValue().offset(), e.getValue().metadata()));
            out.put("consumer_committed", committed);
        } finally {
            a.close();
            b.close();
        }
    }

    static Map<Integer, OffsetAndMetadata> toMap(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<Integer, OffsetAndMetadata> r = new HashMap<>();
        m.forEach((k, v) -> { if (v != null) r.put(k.partition(), v); });
        return r;
    }

    static String json(Object o) {
        if (o == null) return "null";
        if (o instanceof String s) return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
        if (o instanceof Number || o instanceof Boolean) return o.toString();
        if (o instanceof Map<?, ?> m) {
            StringJoiner j = new StringJoiner(",", "{", "}");
            m.forEach((k, v) -> j.add(json(k.toString()) + ":" + json(v)));
            return j.toString();
        }
        if (o instanceof Collection<?> c) {
            StringJoiner j = new StringJoiner(",", "[", "]");
            for (Object x : c) j.add(json(x));
            return j.toString();
        }
        return json(o.toString());
    }
}
