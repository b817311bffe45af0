// Transactions with the Java client: commit, abort, commit on one partition, read back with
// read_committed and read_uncommitted, the end offset (markers count), and fencing by a
// second producer with the same transactional.id. Prints one tab-separated line per
// observation; pytest asserts on them.
// Usage: java -cp 'LIBS/*' Transactions.java BOOTSTRAP TOPIC TRANSACTIONAL_ID
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.*;

public class Transactions {
    static KafkaProducer<String, String> producer(String bootstrap, String txnId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", txnId);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static List<String> read(String bootstrap, String topic, String isolation, long end) {
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("isolation.level", isolation);
        c.put("enable.auto.commit", "false");
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        List<String> values = new ArrayList<>();
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.currentTimeMillis() + 60_000;
            while (consumer.position(tp) < end && System.currentTimeMillis() < deadline)
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200)))
                    values.add(r.value());
            System.out.println("end_offset\t" + isolation + "\t" + consumer.endOffsets(List.of(tp)).get(tp));
        }
        return values;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], txnId = args[2];
        KafkaProducer<String, String> first = producer(bootstrap, txnId);
        first.initTransactions();
        String[][] txns = {{"c0", "c1", "c2"}, {"a3", "a4"}, {"c5"}};
        for (String[] txn : txns) {
            first.beginTransaction();
            for (String v : txn) first.send(new ProducerRecord<>(topic, 0, v, v));
            first.flush();  // an abort drops what was not sent yet: send it, then abort
            if (txn[0].startsWith("a")) first.abortTransaction(); else first.commitTransaction();
        }
        // A second incarnation fences the first.
        try (KafkaProducer<String, String> second = producer(bootstrap, txnId)) {
            second.initTransactions();
            first.beginTransaction();
            first.send(new ProducerRecord<>(topic, 0, "z", "z"));
            try {
                first.commitTransaction();
                System.out.println("fenced\tno");
            } catch (Exception e) {
                System.out.println("fenced\t" + e.getClass().getSimpleName());
            }
            first.close(Duration.ZERO);
            second.beginTransaction();
            second.send(new ProducerRecord<>(topic, 0, "c6", "c6"));
            second.commitTransaction();
        }
        long end = 0;
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> probe = new KafkaConsumer<>(c)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            end = probe.endOffsets(List.of(tp)).get(tp);
        }
        System.out.println("committed\t" + String.join(",", read(bootstrap, topic, "read_committed", end)));
        System.out.println("uncommitted\t" + String.join(",", read(bootstrap, topic, "read_uncommitted", end)));
    }
}
