-- Revision ID: 1c5e2a7f9b01
-- Revises:
-- Create Date: 2026-01-05 09:00:00
-- Message: create users
-- Branch Labels:
-- Depends On:
-- Transactional: true

-- +upgrade
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    display_name VARCHAR(100),
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- +downgrade
DROP TABLE users;
