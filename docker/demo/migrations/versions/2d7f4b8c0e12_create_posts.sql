-- Revision ID: 2d7f4b8c0e12
-- Revises: 1c5e2a7f9b01
-- Create Date: 2026-01-06 10:30:00
-- Message: create posts
-- Branch Labels:
-- Depends On:
-- Transactional: true

-- +upgrade
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title VARCHAR(200) NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- +downgrade
DROP TABLE posts;
