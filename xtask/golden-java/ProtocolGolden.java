import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.BinaryNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Collection;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.protocol.Message;
import org.apache.kafka.common.protocol.ObjectSerializationCache;
import org.apache.kafka.common.protocol.Readable;

/**
 * The Java side of ferrokafka's protocol golden fixtures: Kafka's own
 * generated message classes serialise message instances.
 *
 * <p>Usage: {@code ProtocolGolden INPUT.jsonl OUTPUT.jsonl}. Each non-blank
 * input line is {@code {"name":"FetchRequest","version":12,"instance":{...}}},
 * the instance in the JSON format of Kafka's {@code <Name>DataJsonConverter},
 * or {@code {"name":...,"version":...,"hex":"..."}} to decode bytes instead.
 * Each gives one output line, in order: {@code {"name","version","hex","json"}}
 * with Kafka's bytes and what Kafka's converter writes for the message read
 * back from them, or {@code {"name","version","error"}} when Kafka's classes
 * reject the line. Exits non-zero only when the files cannot be read or
 * written.
 */
public final class ProtocolGolden {
    private static final String MESSAGE_PACKAGE = "org.apache.kafka.common.message.";

    private ProtocolGolden() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: ProtocolGolden INPUT.jsonl OUTPUT.jsonl");
            System.exit(2);
        }
        ObjectMapper mapper = new ObjectMapper();
        int serialized = 0;
        int rejected = 0;
        try (BufferedReader in = Files.newBufferedReader(Path.of(args[0]));
                BufferedWriter out = Files.newBufferedWriter(Path.of(args[1]))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                ObjectNode result = mapper.createObjectNode();
                try {
                    convert(mapper.readTree(line), result);
                    serialized++;
                } catch (Exception e) {
                    Throwable cause = e instanceof InvocationTargetException && e.getCause() != null ? e.getCause() : e;
                    result.put("error", cause.getClass().getSimpleName() + ": " + cause.getMessage());
                    rejected++;
                }
                out.write(mapper.writeValueAsString(result));
                out.newLine();
            }
        }
        System.err.println(serialized + " serialised, " + rejected + " rejected");
    }

    /** Fills {@code result} with the name, version, bytes and JSON of one input line. */
    private static void convert(JsonNode line, ObjectNode result) throws Exception {
        String name = line.path("name").asText();
        short version = (short) line.path("version").asInt(-1);
        result.put("name", name);
        result.put("version", version);
        Class<?> dataClass = dataClass(name);
        Class<?> converter = Class.forName(dataClass.getName() + "JsonConverter");
        Message message;
        if (line.has("instance")) {
            JsonNode instance = withBinaryNodes(line.get("instance").deepCopy(), dataClass);
            message = (Message) converter.getMethod("read", JsonNode.class, short.class).invoke(null, instance, version);
        } else if (line.has("hex")) {
            message = decode(dataClass, HexFormat.of().parseHex(line.get("hex").asText()), version);
        } else {
            throw new IllegalArgumentException("a line needs \"instance\" or \"hex\"");
        }
        byte[] bytes = serialize(message, version);
        Message readBack = decode(dataClass, bytes, version);
        result.put("hex", HexFormat.of().formatHex(bytes));
        result.set("json", (JsonNode) converter.getMethod("write", dataClass, short.class).invoke(null, readBack, version));
    }

    /**
     * Requests, responses and headers are generated as {@code <Name>Data};
     * other message types (records of the metadata log, ...) as {@code <Name>}.
     */
    private static Class<?> dataClass(String name) throws ClassNotFoundException {
        try {
            return Class.forName(MESSAGE_PACKAGE + name + "Data");
        } catch (ClassNotFoundException e) {
            try {
                return Class.forName(MESSAGE_PACKAGE + name);
            } catch (ClassNotFoundException alsoMissing) {
                throw new ClassNotFoundException("no generated message " + name + " (" + MESSAGE_PACKAGE + name + "Data) in kafka-clients");
            }
        }
    }

    private static byte[] serialize(Message message, short version) {
        ObjectSerializationCache cache = new ObjectSerializationCache();
        int size = message.size(cache, version);
        ByteBuffer buffer = ByteBuffer.allocate(size);
        message.write(new ByteBufferAccessor(buffer), cache, version);
        if (buffer.hasRemaining()) {
            throw new IllegalStateException("size() said " + size + " bytes but write() left " + buffer.remaining() + " unwritten");
        }
        return buffer.array();
    }

    private static Message decode(Class<?> dataClass, byte[] bytes, short version) throws Exception {
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        Message message = (Message) dataClass.getConstructor(Readable.class, short.class)
                .newInstance(new ByteBufferAccessor(buffer), version);
        if (buffer.hasRemaining()) {
            throw new IllegalArgumentException(buffer.remaining() + " bytes left after the message");
        }
        return message;
    }

    /**
     * Kafka's converters take bytes and records only from Jackson binary
     * nodes, which text JSON never parses into: turn the base64 strings of
     * such fields into binary nodes, finding the fields by the types of the
     * message classes' fields (the JSON keys are their names).
     */
    private static JsonNode withBinaryNodes(JsonNode node, Type type) {
        Class<?> raw = rawClass(type);
        if (node.isTextual() && isBinary(raw)) {
            return new BinaryNode(Base64.getDecoder().decode(node.asText()));
        }
        if (node.isArray()) {
            Type element = elementType(type);
            if (element != null) {
                ArrayNode array = (ArrayNode) node;
                for (int i = 0; i < array.size(); i++) {
                    array.set(i, withBinaryNodes(array.get(i), element));
                }
            }
            return node;
        }
        if (node.isObject() && raw != null && Message.class.isAssignableFrom(raw)) {
            ObjectNode object = (ObjectNode) node;
            for (Iterator<Map.Entry<String, JsonNode>> fields = object.fields(); fields.hasNext(); ) {
                Map.Entry<String, JsonNode> entry = fields.next();
                Field field = declaredField(raw, entry.getKey());
                if (field != null) {
                    entry.setValue(withBinaryNodes(entry.getValue(), field.getGenericType()));
                }
            }
        }
        return node;
    }

    private static boolean isBinary(Class<?> raw) {
        return raw != null
                && (raw == byte[].class
                        || ByteBuffer.class.isAssignableFrom(raw)
                        // BaseRecords, MemoryRecords, ...: their package moved between releases.
                        || raw.getSimpleName().endsWith("Records"));
    }

    private static Field declaredField(Class<?> type, String name) {
        try {
            return type.getDeclaredField(name);
        } catch (NoSuchFieldException e) {
            // Kafka's converters ignore keys they do not know; so do we.
            return null;
        }
    }

    private static Class<?> rawClass(Type type) {
        if (type instanceof Class<?> c) {
            return c;
        }
        if (type instanceof ParameterizedType p && p.getRawType() instanceof Class<?> c) {
            return c;
        }
        return null;
    }

    /**
     * The element type of a {@code List<X>} field, or of a generated
     * collection class ({@code XCollection extends
     * ImplicitLinkedHashMultiCollection<X>}).
     */
    private static Type elementType(Type type) {
        if (type instanceof ParameterizedType p && Collection.class.isAssignableFrom(rawClass(p))) {
            return p.getActualTypeArguments()[0];
        }
        Class<?> raw = rawClass(type);
        while (raw != null && raw != Object.class) {
            Type parent = raw.getGenericSuperclass();
            if (parent instanceof ParameterizedType p && Collection.class.isAssignableFrom(rawClass(p))) {
                return p.getActualTypeArguments()[0];
            }
            raw = rawClass(parent);
        }
        return null;
    }
}
