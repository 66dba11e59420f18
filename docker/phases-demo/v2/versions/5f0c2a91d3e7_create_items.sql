-- Revision ID: 5f0c2a91d3e7
-- Revises:
-- Create Date: 2026-11-02 10:00:00
-- Message: create items
-- Branch Labels:
-- Depends On:
-- Transactional: true

-- +upgrade
CREATE TABLE items (
    id integer PRIMARY KEY,
    name text NOT NULL,
    sku text
);
INSERT INTO items (id, name, sku) VALUES (1, 'bolt', 'B-100'), (2, 'nut', 'N-200');

-- +downgrade
DROP TABLE items;
