// Golden bytes from Kafka's own serializer for Josef's inter-broker codec tests.
//
// Reads sample messages in the JSON form of Kafka's generated *JsonConverter classes
// (made by tests/tools/interbroker_samples.py), parses each with Kafka's converter for its
// API key and version, serializes it with Kafka's generated write() (the code a Kafka
// broker runs), and prints a JSON list with Kafka's own JSON of the message, as it
// writes it back for that version, and the body bytes as hex. Run by hand from the
// repository root (Java 17 runs a single source file; nothing is compiled into the tree):
//
//   python tests/tools/interbroker_samples.py > /tmp/interbroker-samples.json
//   java -cp '/work/cache/kafka-3.9.1/libs/*' tests/tools/KafkaGolden.java \
//       /tmp/interbroker-samples.json > tests/unit/fixtures/interbroker_golden.json
//
// tests/unit/test_interbroker_codecs.py only reads the fixture, so CI needs no Java.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import org.apache.kafka.common.message.ApiMessageType;
import org.apache.kafka.common.protocol.ApiMessage;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.protocol.ObjectSerializationCache;

public class KafkaGolden {
    public static void main(String[] args) throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        JsonNode samples = mapper.readTree(new File(args[0]));
        ArrayNode out = mapper.createArrayNode();
        for (JsonNode sample : samples) {
            short apiKey = (short) sample.get("apiKey").asInt();
            short version = (short) sample.get("version").asInt();
            String kind = sample.get("kind").asText();
            ApiMessageType type = ApiMessageType.fromApiKey(apiKey);
            ApiMessage empty = kind.equals("request") ? type.newRequest() : type.newResponse();
            Class<?> dataClass = empty.getClass();
            Class<?> converter = Class.forName(dataClass.getName() + "JsonConverter");
            Method read = converter.getMethod("read", JsonNode.class, short.class);
            Method write = converter.getMethod("write", dataClass, short.class);
            ApiMessage message = (ApiMessage) read.invoke(null, sample.get("data"), version);

            ObjectSerializationCache cache = new ObjectSerializationCache();
            int size = message.size(cache, version);
            ByteBuffer buffer = ByteBuffer.allocate(size);
            message.write(new ByteBufferAccessor(buffer), cache, version);
            if (buffer.hasRemaining()) {
                throw new IllegalStateException("size() and write() disagree for " + dataClass);
            }

            ObjectNode row = out.addObject();
            row.put("apiKey", apiKey);
            row.put("version", version);
            row.put("kind", kind);
            row.put("sample", sample.get("sample").asText());
            row.put("kafkaClass", dataClass.getSimpleName());
            row.set("json", (JsonNode) write.invoke(null, message, version));
            row.put("hex", HexFormat.of().formatHex(buffer.array()));
        }
        System.out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(out));
    }
}
