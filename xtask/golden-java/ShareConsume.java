// A Java KafkaShareConsumer as one member of a share group, for an interop
// test of ferrokafka's share consumer:
//   ShareConsume BOOTSTRAP TOPIC GROUP MAX_POLL_RECORDS IDLE_MS DEADLINE_MS
// polls (implicit acknowledgement: a poll's records are accepted by the
// next poll) and prints one line per record:
//   {"offset":3,"delivery_count":1}
// It stops once IDLE_MS pass without a record after the first one came, or
// at DEADLINE_MS; it then commits, so that the last records are accepted too.
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ShareConsume {
    public static void main(String[] args) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, args[2]);
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, args[3]);
        // KIP-1206: at most MAX_POLL_RECORDS acquired at a time, so that the
        // partition's records are spread over the members.
        props.put("share.acquire.mode", "record_limit");
        long idleMs = Long.parseLong(args[4]);
        long deadline = System.currentTimeMillis() + Long.parseLong(args[5]);
        try (KafkaShareConsumer<byte[], byte[]> consumer =
                new KafkaShareConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(args[1]));
            long lastRecord = -1;
            while (System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    System.out.println("{\"offset\":" + record.offset() + ",\"delivery_count\":"
                            + record.deliveryCount().orElse((short) -1) + "}");
                    lastRecord = System.currentTimeMillis();
                }
                System.out.flush();
                if (lastRecord >= 0 && System.currentTimeMillis() - lastRecord > idleMs) {
                    break;
                }
            }
            consumer.commitSync(Duration.ofSeconds(10));
        }
    }
}
