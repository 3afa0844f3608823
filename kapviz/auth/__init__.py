"""Access control: local accounts, roles scoped to sites and patients, and the audit trail."""
