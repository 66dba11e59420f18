-- Revision ID: 7a3e9b04c6d1
-- Revises: 5f0c2a91d3e7
-- Create Date: 2026-11-16 10:00:00
-- Message: add code, copied from sku
-- Branch Labels:
-- Depends On:
-- Transactional: true

-- +upgrade
ALTER TABLE items ADD COLUMN code text;
-- prestart:allow backfill-in-ddl-transaction a table of a few rows
UPDATE items SET code = sku WHERE code IS NULL;

-- +downgrade
ALTER TABLE items DROP COLUMN code;
