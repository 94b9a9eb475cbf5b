"""Agents over test days (`days`), results as JSON, tables and plots (`results`), and `srem figures` across scenarios (`figures`)."""
