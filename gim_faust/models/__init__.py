"""The wire models: the raw events, the fact rows and the codec between bytes and events;
what crosses Kafka, shared by every layer above (docs/architecture.md)."""
