"""The Zammad source over its REST API (requests): client, mapping, cache, adapter."""
