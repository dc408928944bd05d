// Prints Kafka's error codes as JSON lines for fixtures/protocol/error_codes.jsonl:
//   java -cp kafka-clients-<v>.jar:slf4j-api-<v>.jar xtask/golden-java/ErrorCodes.java > fixtures/protocol/error_codes.jsonl
// (the jars are under target/kafka-harness/jars/<version>/libs after `cargo xtask broker start`).
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.protocol.Errors;

public class ErrorCodes {
    public static void main(String[] args) {
        for (Errors error : Errors.values()) {
            ApiException exception = error.exception();
            boolean retriable = exception instanceof RetriableException;
            System.out.println("{\"code\":" + error.code() + ",\"name\":\"" + error.name() + "\",\"retriable\":" + retriable + "}");
        }
    }
}
