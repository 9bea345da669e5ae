"""Idempotent ingestion of ERP / WMS / CRM events: schemas, effects, the ingestion service."""
