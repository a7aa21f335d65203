"""GCA, the Config Adapter: Configuration Database to Kafka, object storage and Info Mart."""
