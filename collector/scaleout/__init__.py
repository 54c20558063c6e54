"""Scale-out: stateless ingest nodes, a replicated NATS stream, and one loader."""
