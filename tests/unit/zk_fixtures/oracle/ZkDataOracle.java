// Runs Apache Kafka 3.9's own ZooKeeper codecs (kafka.zk.ZkData) over the cases in a JSON
// file written by make_fixtures.py: encodes each case's facts the Kafka way and decodes
// Josef's encoding of the same facts with Kafka's decoders. Output: JSON on stdout.
// Build and run (needs the Kafka 3.9.1 jars, never committed): see make_fixtures.py.
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.*;
import kafka.api.LeaderAndIsr;
import kafka.cluster.Broker;
import kafka.cluster.EndPoint;
import kafka.controller.LeaderIsrAndControllerEpoch;
import kafka.controller.ReplicaAssignment;
import kafka.controller.ReplicaAssignment$;
import kafka.zk.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.feature.Features;
import org.apache.kafka.common.feature.SupportedVersionRange;
import org.apache.kafka.common.network.ListenerName;
import org.apache.kafka.common.security.auth.SecurityProtocol;
import org.apache.kafka.metadata.LeaderRecoveryState;
import org.apache.kafka.server.common.ProducerIdsBlock;
import org.apache.zookeeper.data.Stat;
import scala.jdk.javaapi.CollectionConverters;

public class ZkDataOracle {
    static final ObjectMapper M = new ObjectMapper();

    static <T> scala.collection.immutable.Seq<T> seq(List<T> l) {
        return CollectionConverters.asScala(l).toList();
    }

    static List<Object> ints(JsonNode n) {
        List<Object> out = new ArrayList<>();
        for (JsonNode x : n) out.add(x.asInt());
        return out;
    }

    static ArrayNode intArray(scala.collection.Iterable<Object> s) {
        ArrayNode a = M.createArrayNode();
        for (Object o : CollectionConverters.asJava(s)) a.add((Integer) o);
        return a;
    }

    static byte[] bytes(JsonNode ours) {
        return ours.isNull() ? null : ours.asText().getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        JsonNode cases = M.readTree(new File(args[0]));
        ObjectNode out = M.createObjectNode();
        for (JsonNode c : cases) {
            String name = c.get("name").asText();
            String kind = c.get("kind").asText();
            JsonNode f = c.get("facts");
            ObjectNode r = out.putObject(name);
            try {
                byte[] kafka = encode(kind, f);
                r.put("kafka_encoded", kafka == null ? null : new String(kafka, StandardCharsets.UTF_8));
            } catch (Exception e) {
                r.put("kafka_encode_error", e.toString());
            }
            try {
                r.set("kafka_decoded_ours", decode(kind, f, bytes(c.get("ours"))));
            } catch (Exception e) {
                r.put("kafka_decode_error", e.toString());
            }
        }
        System.out.println(M.writerWithDefaultPrettyPrinter().writeValueAsString(out));
    }

    static byte[] encode(String kind, JsonNode f) throws Exception {
        switch (kind) {
            case "broker": {
                List<EndPoint> eps = new ArrayList<>();
                for (JsonNode e : f.get("endpoints"))
                    eps.add(new EndPoint(e.get(2).isNull() ? null : e.get(2).asText(), e.get(3).asInt(),
                        new ListenerName(e.get(0).asText()), SecurityProtocol.forName(e.get(1).asText())));
                Map<String, SupportedVersionRange> feats = new LinkedHashMap<>();
                Iterator<Map.Entry<String, JsonNode>> it = f.get("features").fields();
                while (it.hasNext()) {
                    Map.Entry<String, JsonNode> e = it.next();
                    feats.put(e.getKey(), new SupportedVersionRange((short) e.getValue().get(0).asInt(), (short) e.getValue().get(1).asInt()));
                }
                scala.Option<String> rack = f.get("rack").isNull() ? scala.Option.empty() : scala.Option.apply(f.get("rack").asText());
                Broker b = new Broker(f.get("id").asInt(), seq(eps), rack, Features.supportedFeatures(feats));
                return BrokerIdZNode.encode(new BrokerInfo(b, f.get("version").asInt(), f.get("jmx_port").asInt()));
            }
            case "controller":
                return ControllerZNode.encode(f.get("broker_id").asInt(), f.get("timestamp").asLong(), f.get("kraft_epoch").asInt());
            case "controller_epoch":
                return ControllerEpochZNode.encode(f.get("epoch").asInt());
            case "cluster_id":
                return ClusterIdZNode.toJson(f.get("id").asText());
            case "feature": {
                scala.collection.immutable.Map<String, Object> feats = scala.collection.immutable.Map$.MODULE$.empty();
                Iterator<Map.Entry<String, JsonNode>> it = f.get("features").fields();
                while (it.hasNext()) {
                    Map.Entry<String, JsonNode> e = it.next();
                    feats = feats.updated(e.getKey(), (Object) (short) e.getValue().asInt());
                }
                FeatureZNodeStatus st = f.get("status").asInt() == 1 ? FeatureZNodeStatus.Enabled$.MODULE$ : FeatureZNodeStatus.Disabled$.MODULE$;
                @SuppressWarnings("unchecked")
                scala.collection.immutable.Map<String, Object> m = feats;
                return FeatureZNode.encode(new FeatureZNode(f.get("version").asInt(), st, (scala.collection.Map) m));
            }
            case "producer_id_block":
                return ProducerIdBlockZNode.generateProducerIdBlockJson(
                    new ProducerIdsBlock(f.get("broker").asInt(), f.get("start").asLong(), f.get("size").asInt()));
            case "topic": {
                scala.collection.mutable.LinkedHashMap<TopicPartition, ReplicaAssignment> m = new scala.collection.mutable.LinkedHashMap<>();
                Iterator<Map.Entry<String, JsonNode>> it = f.get("partitions").fields();
                while (it.hasNext()) {
                    Map.Entry<String, JsonNode> e = it.next();
                    JsonNode a = e.getValue();
                    m.put(new TopicPartition(f.get("topic").asText(), Integer.parseInt(e.getKey())),
                        ReplicaAssignment$.MODULE$.apply(seq(ints(a.get(0))), seq(ints(a.get(1))), seq(ints(a.get(2)))));
                }
                scala.Option<Uuid> id = f.get("topic_id").isNull() ? scala.Option.empty() : scala.Option.apply(Uuid.fromString(f.get("topic_id").asText()));
                return TopicZNode.encode(id, m);
            }
            case "partition_state": {
                LeaderAndIsr lai = LeaderAndIsr.apply(f.get("leader").asInt(), f.get("leader_epoch").asInt(),
                    (scala.collection.immutable.List) seq(ints(f.get("isr"))), LeaderRecoveryState.of((byte) f.get("recovery").asInt()), 0);
                return TopicPartitionStateZNode.encode(new LeaderIsrAndControllerEpoch(lai, f.get("controller_epoch").asInt()));
            }
            case "config_entity": {
                Properties p = new Properties();
                Iterator<Map.Entry<String, JsonNode>> it = f.get("config").fields();
                while (it.hasNext()) { Map.Entry<String, JsonNode> e = it.next(); p.setProperty(e.getKey(), e.getValue().asText()); }
                return ConfigEntityZNode.encode(p);
            }
            case "config_change":
                return ConfigEntityChangeNotificationSequenceZNode.encode(f.get("entity_path").asText());
            case "isr_change": {
                scala.collection.mutable.LinkedHashSet<TopicPartition> s = new scala.collection.mutable.LinkedHashSet<>();
                for (JsonNode tp : f.get("partitions")) s.add(new TopicPartition(tp.get(0).asText(), tp.get(1).asInt()));
                return IsrChangeNotificationSequenceZNode.encode(s);
            }
            case "preferred": {
                scala.collection.immutable.Set<TopicPartition> s = scala.collection.immutable.Set$.MODULE$.empty();
                for (JsonNode tp : f.get("partitions")) s = s.incl(new TopicPartition(tp.get(0).asText(), tp.get(1).asInt()));
                return PreferredReplicaElectionZNode.encode(s);
            }
            case "log_dir_event":
                return LogDirEventNotificationSequenceZNode.encode(f.get("broker").asInt());
            case "reassign": {
                scala.collection.mutable.LinkedHashMap<TopicPartition, scala.collection.Seq<Object>> m = new scala.collection.mutable.LinkedHashMap<>();
                for (JsonNode e : f.get("partitions"))
                    m.put(new TopicPartition(e.get(0).asText(), e.get(1).asInt()), seq(ints(e.get(2))));
                return ReassignPartitionsZNode.encode(m);
            }
            default:
                throw new IllegalArgumentException("unknown kind " + kind);
        }
    }

    static JsonNode decode(String kind, JsonNode f, byte[] ours) throws Exception {
        ObjectNode d = M.createObjectNode();
        switch (kind) {
            case "broker": {
                BrokerInfo bi = BrokerIdZNode.decode(f.get("id").asInt(), ours);
                d.put("id", bi.broker().id());
                ArrayNode eps = d.putArray("endpoints");
                for (EndPoint e : CollectionConverters.asJava(bi.broker().endPoints())) {
                    ArrayNode a = eps.addArray();
                    a.add(e.listenerName().value()); a.add(e.securityProtocol().name);
                    if (e.host() == null) a.addNull(); else a.add(e.host());
                    a.add(e.port());
                }
                if (bi.broker().rack().isDefined()) d.put("rack", bi.broker().rack().get()); else d.putNull("rack");
                d.put("jmx_port", bi.jmxPort());
                d.put("version", bi.version());
                ObjectNode fs = d.putObject("features");
                for (Map.Entry<String, SupportedVersionRange> e : bi.broker().features().features().entrySet()) {
                    ArrayNode a = fs.putArray(e.getKey()); a.add(e.getValue().min()); a.add(e.getValue().max());
                }
                return d;
            }
            case "controller": {
                ZKControllerRegistration reg = ControllerZNode.decodeController(ours, 0);
                d.put("broker_id", reg.broker());
                d.put("kraft_epoch", (Integer) reg.kraftEpoch().get());
                return d;
            }
            case "controller_epoch":
                d.put("epoch", ControllerEpochZNode.decode(ours)); return d;
            case "cluster_id":
                d.put("id", ClusterIdZNode.fromJson(ours)); return d;
            case "feature": {
                FeatureZNode fz = FeatureZNode.decode(ours);
                d.put("status", fz.status().id()); d.put("version", fz.version());
                ObjectNode fs = d.putObject("features");
                for (Map.Entry<String, Object> e : CollectionConverters.asJava(fz.features()).entrySet()) fs.put(e.getKey(), (Short) e.getValue());
                return d;
            }
            case "producer_id_block": {
                ProducerIdsBlock b = ProducerIdBlockZNode.parseProducerIdBlockData(ours);
                d.put("broker", b.assignedBrokerId()); d.put("start", b.firstProducerId()); d.put("size", b.size());
                return d;
            }
            case "topic": {
                TopicZNode.TopicIdReplicaAssignment t = TopicZNode.decode(f.get("topic").asText(), ours);
                d.put("topic", t.topic());
                if (t.topicId().isDefined()) d.put("topic_id", t.topicId().get().toString()); else d.putNull("topic_id");
                ObjectNode ps = d.putObject("partitions");
                TreeMap<Integer, ReplicaAssignment> sorted = new TreeMap<>();
                for (Map.Entry<TopicPartition, ReplicaAssignment> e : CollectionConverters.asJava(t.assignment()).entrySet()) sorted.put(e.getKey().partition(), e.getValue());
                for (Map.Entry<Integer, ReplicaAssignment> e : sorted.entrySet()) {
                    ArrayNode a = ps.putArray(e.getKey().toString());
                    a.add(intArray(e.getValue().replicas())); a.add(intArray(e.getValue().addingReplicas())); a.add(intArray(e.getValue().removingReplicas()));
                }
                return d;
            }
            case "partition_state": {
                Stat stat = new Stat(); stat.setVersion(7);
                LeaderIsrAndControllerEpoch l = TopicPartitionStateZNode.decode(ours, stat).get();
                d.put("leader", l.leaderAndIsr().leader()); d.put("leader_epoch", l.leaderAndIsr().leaderEpoch());
                d.set("isr", intArray(l.leaderAndIsr().isr()));
                d.put("controller_epoch", l.controllerEpoch());
                d.put("recovery", l.leaderAndIsr().leaderRecoveryState().value());
                d.put("partition_epoch_from_stat", l.leaderAndIsr().partitionEpoch());
                return d;
            }
            case "config_entity": {
                Properties p = ConfigEntityZNode.decode(ours);
                ObjectNode cfg = d.putObject("config");
                for (String k : new TreeSet<>(p.stringPropertyNames())) cfg.put(k, p.getProperty(k));
                return d;
            }
            case "isr_change":
            case "preferred": {
                scala.collection.immutable.Set<TopicPartition> s = kind.equals("isr_change")
                    ? IsrChangeNotificationSequenceZNode.decode(ours) : PreferredReplicaElectionZNode.decode(ours);
                TreeSet<String> sorted = new TreeSet<>();
                for (TopicPartition tp : CollectionConverters.asJava(s)) sorted.add(tp.topic() + "\u0000" + tp.partition());
                ArrayNode ps = d.putArray("partitions");
                for (String x : sorted) { String[] parts = x.split("\u0000"); ArrayNode a = ps.addArray(); a.add(parts[0]); a.add(Integer.parseInt(parts[1])); }
                return d;
            }
            case "log_dir_event":
                d.put("broker", (Integer) LogDirEventNotificationSequenceZNode.decode(ours).get()); return d;
            case "reassign": {
                scala.collection.Map<TopicPartition, scala.collection.Seq<Object>> m = ReassignPartitionsZNode.decode(ours).toOption().get();
                ArrayNode ps = d.putArray("partitions");
                TreeMap<String, scala.collection.Seq<Object>> sorted = new TreeMap<>();
                for (Map.Entry<TopicPartition, scala.collection.Seq<Object>> e : CollectionConverters.asJava(m).entrySet()) sorted.put(e.getKey().topic() + "\u0000" + e.getKey().partition(), e.getValue());
                for (Map.Entry<String, scala.collection.Seq<Object>> e : sorted.entrySet()) {
                    String[] parts = e.getKey().split("\u0000"); ArrayNode a = ps.addArray(); a.add(parts[0]); a.add(Integer.parseInt(parts[1])); a.add(intArray(e.getValue()));
                }
                return d;
            }
            case "config_change": {
                // Kafka's ZkConfigManager reads this JSON by hand: version 2 -> "entity_path".
                JsonNode js = M.readTree(ours);
                d.put("entity_path", js.get("entity_path").asText());
                d.put("version", js.get("version").asInt());
                return d;
            }
            default:
                throw new IllegalArgumentException("unknown kind " + kind);
        }
    }
}
