"""Access control and the audit log: who may do what, and the trace they leave."""
