"""Vendor adapters: one package per vendor, canonical records, the shared HTTP policy."""
