"""audit-graph: a GraphQL analytics API over an audit log of tool calls."""
