"""Write use cases of operations: the outbox (`outbox`), task deliveries (`deliveries`), job runs (`jobs`)."""
