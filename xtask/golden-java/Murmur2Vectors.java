// Prints murmur2 vectors from the Java client for fixtures/producer/murmur2.json:
//   java -cp kafka-clients-<v>.jar:slf4j-api-<v>.jar xtask/golden-java/Murmur2Vectors.java > fixtures/producer/murmur2.json
// (the jars are under target/kafka-harness/jars/<version>/libs after `cargo xtask broker start`).
import org.apache.kafka.common.utils.Utils;
import java.nio.charset.StandardCharsets;
import java.util.Random;

public class Murmur2Vectors {
    public static void main(String[] args) {
        Random random = new Random(20261123L);
        StringBuilder out = new StringBuilder("[\n");
        String[] words = {"", "a", "ab", "abc", "abcd", "123456789", "key-0", "user:42", "ferrokafka", "\u00e9t\u00e9", "\u4e2d\u6587"};
        int n = 0;
        for (int i = 0; i < words.length + 40; i++) {
            byte[] key;
            if (i < words.length) { key = words[i].getBytes(StandardCharsets.UTF_8); }
            else { key = new byte[random.nextInt(40)]; random.nextBytes(key); }
            int hash = Utils.murmur2(key);
            StringBuilder hex = new StringBuilder();
            for (byte b : key) hex.append(String.format("%02x", b));
            int[] counts = {1, 2, 3, 6, 10, 12, 100, 1000};
            StringBuilder parts = new StringBuilder();
            for (int c : counts) { if (parts.length() > 0) parts.append(","); parts.append("[" + c + "," + (Utils.toPositive(hash) % c) + "]"); }
            out.append(n++ == 0 ? "" : ",\n").append("  {\"key_hex\":\"" + hex + "\",\"murmur2\":" + hash + ",\"partitions\":[" + parts + "]}");
        }
        System.out.println(out.append("\n]"));
    }
}
