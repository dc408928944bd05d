// The Java Admin on a group's configs, for an interop test of ferrokafka's
// admin:
//   GroupConfigs BOOTSTRAP GROUP [NAME=VALUE...]
// sets the NAME=VALUE pairs (incrementalAlterConfigs on the GROUP resource),
// then prints every share.* config the broker describes, one per line:
//   {"name":"share.delivery.count.limit","value":"4"}
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.config.ConfigResource;

public class GroupConfigs {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, args[1]);
        try (Admin admin = Admin.create(props)) {
            List<AlterConfigOp> ops = new ArrayList<>();
            for (int i = 2; i < args.length; i++) {
                String[] pair = args[i].split("=", 2);
                ops.add(new AlterConfigOp(new ConfigEntry(pair[0], pair[1]), AlterConfigOp.OpType.SET));
            }
            if (!ops.isEmpty()) {
                admin.incrementalAlterConfigs(Map.of(group, ops)).all().get();
            }
            Config config = admin.describeConfigs(List.of(group)).all().get().get(group);
            List<ConfigEntry> entries = new ArrayList<>(config.entries());
            entries.sort(Comparator.comparing(ConfigEntry::name));
            for (ConfigEntry entry : entries) {
                if (entry.name().startsWith("share.")) {
                    System.out.println("{\"name\":\"" + entry.name() + "\",\"value\":\"" + entry.value() + "\"}");
                }
            }
        }
    }
}
