// KIP-467 with the Java client: one batch to a compacted topic holds records with and
// without a key. The broker rejects the batch with INVALID_RECORD and lists the keyless
// records in record_errors; the producer fails those with InvalidRecordException and the
// others with a KafkaException naming the batch, and the application sends those again.
// Prints one tab-separated line per outcome; pytest asserts on them.
// Usage: java -cp 'LIBS/*' RecordErrors.java BOOTSTRAP TOPIC
import java.util.*;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.StringSerializer;

public class RecordErrors {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("acks", "all");
        p.put("enable.idempotence", "false");
        p.put("linger.ms", "1000");  // every record in one batch
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        String[] keys = {"k0", null, "k2", null, "k4"};
        List<String> retry = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < keys.length; i++)
                sent.add(producer.send(new ProducerRecord<>(args[1], 0, keys[i], "v" + i)));
            for (int i = 0; i < keys.length; i++) {
                try {
                    RecordMetadata md = sent.get(i).get();
                    System.out.println("first\t" + i + "\tok\t" + md.offset());
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable c = e.getCause();
                    System.out.println("first\t" + i + "\t" + c.getClass().getSimpleName() + "\t"
                        + c.getMessage().replace('\n', ' '));
                    if (keys[i] != null) retry.add(keys[i] + "=" + i);
                }
            }
            for (String r : retry) {
                String[] kv = r.split("=");
                RecordMetadata md = producer.send(
                    new ProducerRecord<>(args[1], 0, kv[0], "v" + kv[1])).get();
                System.out.println("retry\t" + kv[1] + "\tok\t" + md.offset());
            }
        }
    }
}
