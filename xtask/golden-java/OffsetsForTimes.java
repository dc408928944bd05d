// The Java client's answers to offsetsForTimes, beginningOffsets and
// endOffsets, for a parity test of ferrokafka's consumer:
//   OffsetsForTimes BOOTSTRAP TOPIC PARTITION:TIMESTAMP...
// prints one JSON object per query line:
//   {"partition":0,"timestamp":1000,"offset":3,"record_timestamp":1002}
// ("offset":null when no record is at or after the time), then
//   {"partition":0,"beginning":0,"end":10} for every partition queried.
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class OffsetsForTimes {
    public static void main(String[] args) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        String topic = args[1];
        List<long[]> queries = new ArrayList<>();
        Set<TopicPartition> partitions = new TreeSet<>(Comparator.comparingInt(TopicPartition::partition));
        for (int i = 2; i < args.length; i++) {
            String[] parts = args[i].split(":");
            long[] query = {Long.parseLong(parts[0]), Long.parseLong(parts[1])};
            queries.add(query);
            partitions.add(new TopicPartition(topic, (int) query[0]));
        }
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            for (long[] query : queries) {
                TopicPartition tp = new TopicPartition(topic, (int) query[0]);
                OffsetAndTimestamp found = consumer.offsetsForTimes(Map.of(tp, query[1])).get(tp);
                String answer = found == null
                        ? "\"offset\":null"
                        : "\"offset\":" + found.offset() + ",\"record_timestamp\":" + found.timestamp();
                System.out.println("{\"partition\":" + query[0] + ",\"timestamp\":" + query[1] + "," + answer + "}");
            }
            Map<TopicPartition, Long> beginning = consumer.beginningOffsets(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            for (TopicPartition tp : partitions) {
                System.out.println("{\"partition\":" + tp.partition() + ",\"beginning\":" + beginning.get(tp)
                        + ",\"end\":" + end.get(tp) + "}");
            }
        }
    }
}
