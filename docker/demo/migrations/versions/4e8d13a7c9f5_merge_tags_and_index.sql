-- Revision ID: 4e8d13a7c9f5
-- Revises: 3a91c6d2f4a3, 3b02e7f5a6b4
-- Create Date: 2026-01-09 11:00:00
-- Message: merge tags and index; add post_stats view
-- Branch Labels:
-- Depends On:
-- Transactional: true

-- +upgrade
CREATE VIEW post_stats AS
SELECT u.id AS user_id,
       u.email,
       COUNT(DISTINCT p.id) AS posts,
       COUNT(pt.tag_id) AS tag_uses
  FROM users u
  LEFT JOIN posts p ON p.user_id = u.id
  LEFT JOIN post_tags pt ON pt.post_id = p.id
 GROUP BY u.id, u.email;

-- +downgrade
DROP VIEW post_stats;
