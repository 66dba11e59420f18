-- Revision ID: 3b02e7f5a6b4
-- Revises: 2d7f4b8c0e12
-- Create Date: 2026-01-08 15:20:00
-- Message: index posts by author
-- Branch Labels:
-- Depends On:
-- Transactional: true

-- +upgrade
CREATE INDEX ix_posts_user_id_created_at ON posts (user_id, created_at);

-- +downgrade
DROP INDEX ix_posts_user_id_created_at;
