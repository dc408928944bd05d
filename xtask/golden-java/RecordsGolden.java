import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java client as a golden-fixture writer for `cargo xtask golden records`.
 *
 * <p>Reads a record plan (JSON, written by the xtask), creates a one-partition
 * topic, and sends the plan's records with the plan's keys, values, headers
 * and timestamps, group by group: a group ends with a flush (which closes the
 * batch), or with a commit or an abort when a transactional id is given. Prints
 * one JSON line: the client version and the offset and timestamp the broker
 * acknowledged for every record, in plan order.
 *
 * <p>Usage: {@code RecordsGolden --bootstrap HOST:PORT --topic T --codec
 * none|gzip|snappy|lz4|zstd --plan PLAN.json [--transactional-id ID]
 * [--timestamp-type CreateTime|LogAppendTime]}
 */
public final class RecordsGolden {
    private static final long WAIT_SECONDS = 60;
    private static final String TEN_YEARS_MS = "315360000000";

    private RecordsGolden() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> options = parseOptions(args);
        String bootstrap = required(options, "--bootstrap");
        String topic = required(options, "--topic");
        String codec = required(options, "--codec");
        String transactionalId = options.get("--transactional-id");
        String timestampType = options.getOrDefault("--timestamp-type", "CreateTime");
        ObjectMapper mapper = new ObjectMapper();
        JsonNode plan = mapper.readTree(new File(required(options, "--plan")));

        createTopic(bootstrap, topic, timestampType);

        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        config.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        // Long enough that a group's records share a batch; the flush at the
        // end of each group sends it without waiting for the linger.
        config.put(ProducerConfig.LINGER_MS_CONFIG, "5000");
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        if (transactionalId != null) {
            config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        }

        List<Long> offsets = new ArrayList<>();
        List<Long> timestamps = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(config)) {
            if (transactionalId != null) {
                producer.initTransactions();
            }
            JsonNode records = plan.get("records");
            int next = 0;
            for (JsonNode group : plan.get("groups")) {
                int count = group.get("records").asInt();
                String end = group.get("end").asText();
                boolean transactional = !end.equals("flush");
                if (transactional) {
                    producer.beginTransaction();
                }
                List<Future<RecordMetadata>> acks = new ArrayList<>();
                for (int i = next; i < next + count; i++) {
                    acks.add(producer.send(toProducerRecord(topic, records.get(i))));
                }
                // Flushed before an abort too, so the aborted records reach the
                // log (an abort drops what is still unsent).
                producer.flush();
                for (Future<RecordMetadata> ack : acks) {
                    RecordMetadata metadata = ack.get(WAIT_SECONDS, TimeUnit.SECONDS);
                    offsets.add(metadata.offset());
                    timestamps.add(metadata.timestamp());
                }
                if (end.equals("commit")) {
                    producer.commitTransaction();
                } else if (end.equals("abort")) {
                    producer.abortTransaction();
                }
                next += count;
            }
        }

        ObjectNode out = mapper.createObjectNode();
        out.put("client", "kafka-clients (Java)");
        out.put("client_version", kafkaClientsVersion());
        ArrayNode offsetsNode = out.putArray("offsets");
        offsets.forEach(offsetsNode::add);
        ArrayNode timestampsNode = out.putArray("timestamps");
        timestamps.forEach(timestampsNode::add);
        System.out.println(mapper.writeValueAsString(out));
    }

    /** The version kafka-clients records in its jar (read directly: the
     * class that reads it moved between releases). */
    static String kafkaClientsVersion() throws java.io.IOException {
        Properties properties = new Properties();
        try (java.io.InputStream in = KafkaProducer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            if (in != null) {
                properties.load(in);
            }
        }
        return properties.getProperty("version", "unknown");
    }

    private static ProducerRecord<byte[], byte[]> toProducerRecord(String topic, JsonNode record) {
        List<Header> headers = new ArrayList<>();
        for (JsonNode header : record.get("headers")) {
            headers.add(new RecordHeader(header.get("key").asText(), bytesOrNull(header.get("value"))));
        }
        return new ProducerRecord<>(
                topic,
                0,
                record.get("timestamp").asLong(),
                bytesOrNull(record.get("key")),
                bytesOrNull(record.get("value")),
                headers);
    }

    private static byte[] bytesOrNull(JsonNode base64) {
        return base64 == null || base64.isNull() ? null : Base64.getDecoder().decode(base64.asText());
    }

    private static void createTopic(String bootstrap, String topic, String timestampType) throws Exception {
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // The plan's timestamps are years old: without these, retention would
        // delete the segment, and a marker (stamped now) would roll a new one.
        // An existing topic fails the run: its segment would hold other records.
        NewTopic newTopic = new NewTopic(topic, 1, (short) 1)
                .configs(Map.of(
                        "retention.ms", "-1",
                        "segment.ms", TEN_YEARS_MS,
                        "message.timestamp.type", timestampType));
        try (Admin admin = Admin.create(config)) {
            admin.createTopics(List.of(newTopic))
                    .all()
                    .get(WAIT_SECONDS, TimeUnit.SECONDS);
        }
    }

    private static Map<String, String> parseOptions(String[] args) {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            options.put(args[i], args[i + 1]);
        }
        return options;
    }

    private static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("missing " + name);
        }
        return value;
    }
}
