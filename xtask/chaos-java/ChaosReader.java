import java.io.BufferedWriter;
import java.io.FileWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.HashSet;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The chaos campaign's independent reader: the Java client reads a whole
 * topic, without a group, from the beginning to the end offsets taken at
 * start, and writes one line per record, "partition offset value", so that
 * a bug shared by ferrokafka's writer and reader cannot hide.
 *
 * Arguments: bootstrap topic isolation(read_committed|read_uncommitted)
 * output-file timeout-seconds [group offsets-topic]. Exits 0 when every
 * partition was read to its end offset, 2 when the timeout passed first.
 * With a group, also writes the group's committed offsets of offsets-topic
 * (read as a read_committed consumer reads them: stable, no transaction
 * pending) to output-file.committed, one "partition offset" line each.
 */
public final class ChaosReader {
    public static void main(String[] args) throws Exception {
        if (args.length != 5 && args.length != 7) {
            System.err.println("usage: ChaosReader bootstrap topic isolation output timeout-seconds [group offsets-topic]");
            System.exit(64);
        }
        String topic = args[1];
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, args[2]);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        long deadline = System.nanoTime() + Long.parseLong(args[4]) * 1_000_000_000L;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props);
             BufferedWriter out = new BufferedWriter(new FileWriter(args[3], StandardCharsets.UTF_8))) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo info : consumer.partitionsFor(topic, Duration.ofSeconds(60))) {
                partitions.add(new TopicPartition(topic, info.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> ends = new HashMap<>(consumer.endOffsets(partitions, Duration.ofSeconds(60)));
            long records = 0;
            while (!ends.isEmpty()) {
                if (System.nanoTime() > deadline) {
                    System.err.println("timed out with partitions left: " + ends);
                    System.exit(2);
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    out.write(r.partition() + " " + r.offset() + " "
                        + (r.value() == null ? "" : new String(r.value(), StandardCharsets.UTF_8)));
                    out.newLine();
                    records++;
                }
                ends.entrySet().removeIf(e -> consumer.position(e.getKey(), Duration.ofSeconds(30)) >= e.getValue());
            }
            System.err.println("read " + records + " records of " + topic + " (" + args[2] + ")");
            if (args.length == 7) {
                writeCommitted(props, args[5], args[6], args[3] + ".committed");
            }
        }
    }

    private static void writeCommitted(Properties base, String group, String topic, String path)
            throws Exception {
        Properties props = new Properties();
        props.putAll(base);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props);
             BufferedWriter out = new BufferedWriter(new FileWriter(path, StandardCharsets.UTF_8))) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo info : consumer.partitionsFor(topic, Duration.ofSeconds(60))) {
                partitions.add(new TopicPartition(topic, info.partition()));
            }
            Map<TopicPartition, OffsetAndMetadata> committed =
                consumer.committed(new HashSet<>(partitions), Duration.ofSeconds(60));
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : committed.entrySet()) {
                if (e.getValue() != null) {
                    out.write(e.getKey().partition() + " " + e.getValue().offset());
                    out.newLine();
                }
            }
        }
    }
}
