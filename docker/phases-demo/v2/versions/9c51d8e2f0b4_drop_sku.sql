-- Revision ID: 9c51d8e2f0b4
-- Revises: 7a3e9b04c6d1
-- Create Date: 2026-11-16 10:05:00
-- Message: drop sku, which v1 still reads
-- Branch Labels:
-- Depends On:
-- Phase: contract
-- Transactional: true

-- +upgrade
-- prestart:allow drop-column v2 reads code; this runs in the contract phase, once v1 is gone
ALTER TABLE items DROP COLUMN sku;

-- +downgrade
ALTER TABLE items ADD COLUMN sku text;
UPDATE items SET sku = code;
