-- Revision ID: 3a91c6d2f4a3
-- Revises: 2d7f4b8c0e12
-- Create Date: 2026-01-08 14:00:00
-- Message: add tags
-- Branch Labels: tags
-- Depends On:
-- Transactional: true

-- +upgrade
CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    name VARCHAR(50) NOT NULL UNIQUE
);

CREATE TABLE post_tags (
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (post_id, tag_id)
);

-- +downgrade
DROP TABLE post_tags;
DROP TABLE tags;
