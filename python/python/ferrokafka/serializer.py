"""kafka-python 3's serializer interfaces (``kafka.serializer``)."""

import abc
import json

__all__ = ["Serializer", "Deserializer", "JsonSerializer", "DefaultSerializer"]


class Serializer(abc.ABC):
    """Turns a key or value into bytes: ``serialize(topic, headers, data)``."""

    def __init__(self, **config):
        pass

    @abc.abstractmethod
    def serialize(self, topic, headers, data):
        pass

    def close(self):
        pass


class Deserializer(abc.ABC):
    """Turns bytes into a key or value: ``deserialize(topic, headers, data)``."""

    def __init__(self, **config):
        pass

    @abc.abstractmethod
    def deserialize(self, topic, headers, data):
        pass

    def close(self):
        pass


class DefaultSerializer(Serializer, Deserializer):
    """bytes as they are; str as UTF-8."""

    def serialize(self, topic, headers, data):
        if isinstance(data, str):
            return data.encode("utf-8")
        return data

    def deserialize(self, topic, headers, data):
        return data


class JsonSerializer(Serializer, Deserializer):
    """JSON, UTF-8 encoded."""

    def serialize(self, topic, headers, data):
        if data is None:
            return None
        return json.dumps(data).encode("utf-8")

    def deserialize(self, topic, headers, data):
        if data is None:
            return None
        return json.loads(data)
