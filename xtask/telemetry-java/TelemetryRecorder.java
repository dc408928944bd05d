import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.MetricsReporter;
import org.apache.kafka.server.authorizer.AuthorizableRequestContext;
import org.apache.kafka.server.telemetry.ClientTelemetry;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;
import org.apache.kafka.server.telemetry.ClientTelemetryReceiver;

/**
 * A broker-side client telemetry receiver for the KIP-714 integration
 * tests: every PushTelemetry the broker accepts is written, as the broker
 * hands it over, to
 * {@code <telemetry.recorder.dir>/<client instance id>/push-<n>-<terminating>.bin},
 * so that the test can decode it and compare it with what the client
 * reports locally. Configured with {@code metric.reporters=TelemetryRecorder}.
 */
@SuppressWarnings("deprecation")
public class TelemetryRecorder implements MetricsReporter, ClientTelemetry {
    private static final AtomicLong PUSHES = new AtomicLong();
    private volatile Path dir;

    @Override
    public void configure(Map<String, ?> configs) {
        Object configured = configs.get("telemetry.recorder.dir");
        if (configured == null) {
            throw new IllegalArgumentException("TelemetryRecorder needs telemetry.recorder.dir");
        }
        dir = Paths.get(configured.toString());
    }

    @Override
    public void init(List<KafkaMetric> metrics) {
    }

    @Override
    public void metricChange(KafkaMetric metric) {
    }

    @Override
    public void metricRemoval(KafkaMetric metric) {
    }

    @Override
    public void close() {
    }

    @Override
    public ClientTelemetryReceiver clientReceiver() {
        return this::record;
    }

    private void record(AuthorizableRequestContext context, ClientTelemetryPayload payload) {
        ByteBuffer data = payload.data().duplicate();
        byte[] bytes = new byte[data.remaining()];
        data.get(bytes);
        long n = PUSHES.incrementAndGet();
        String name = String.format("push-%06d-%s.bin", n, payload.isTerminating() ? "terminating" : "regular");
        Path client = dir.resolve(payload.clientInstanceId().toString());
        try {
            Files.createDirectories(client);
            // Written aside then moved, so that a reader never sees half a file.
            Path partial = client.resolve(name + ".partial");
            Files.write(partial, bytes);
            Files.move(partial, client.resolve(name), StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new RuntimeException("recording a telemetry push in " + dir, e);
        }
    }
}
