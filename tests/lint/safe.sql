-- case: index-concurrently [notx]
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_state_idx ON orders (state);
-- case: drop-index-concurrently [notx]
DROP INDEX CONCURRENTLY IF EXISTS orders_user_idx;
-- case: reindex-concurrently [notx]
REINDEX INDEX CONCURRENTLY orders_user_idx;
-- case: fk-not-valid
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
-- case: validate-constraint
ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;
-- case: check-not-valid
ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0) NOT VALID;
-- case: unique-using-index
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;
-- case: add-nullable-column
ALTER TABLE users ADD COLUMN plan text;
-- case: add-column-default-true
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;
-- case: add-column-default-now
ALTER TABLE users ADD COLUMN joined timestamptz NOT NULL DEFAULT now();
-- case: add-column-default-constant
ALTER TABLE users ADD COLUMN score int DEFAULT 0;
-- case: add-column-default-array
ALTER TABLE users ADD COLUMN tags text[] DEFAULT '{}';
-- case: add-column-varchar
ALTER TABLE users ADD COLUMN note varchar(200) NULL;
-- case: varchar-to-text
ALTER TABLE users ALTER COLUMN email TYPE text;
-- case: varchar-widen
ALTER TABLE users ALTER COLUMN email TYPE varchar(500);
-- case: varchar-unbounded
ALTER TABLE orders ALTER COLUMN note TYPE varchar;
-- case: numeric-widen
ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);
-- case: set-not-null-after-validated-check
ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
-- case: drop-not-null
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
-- case: set-default
ALTER TABLE users ALTER COLUMN status SET DEFAULT 'active';
-- case: set-statistics
ALTER TABLE users ALTER COLUMN name SET STATISTICS 500;
-- case: new-table-with-constraints
CREATE TABLE invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id), total numeric(10,2) NOT NULL CHECK (total >= 0));
-- case: new-table-then-index
CREATE TABLE invoices (id bigint PRIMARY KEY, user_id bigint);
CREATE INDEX invoices_user_idx ON invoices (user_id);
-- case: new-table-then-unique
CREATE TABLE invoices (id bigint PRIMARY KEY, n text);
ALTER TABLE invoices ADD CONSTRAINT invoices_n_key UNIQUE (n);
-- case: new-table-then-not-null-column
CREATE TABLE invoices (id bigint);
ALTER TABLE invoices ADD COLUMN code text NOT NULL;
-- case: insert-row
INSERT INTO orgs (id, name) VALUES (1, 'default');
-- case: batched-update
UPDATE users SET status = 'active' WHERE id BETWEEN 1 AND 1000 AND status IS NULL;
-- case: batched-delete
DELETE FROM orders WHERE state = 'abandoned' AND id < 1000;
-- case: create-view
CREATE VIEW active_users AS SELECT * FROM users WHERE status = 'active';
-- case: create-function
CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at = now(); RETURN NEW; END $$;
-- case: comment
COMMENT ON TABLE users IS 'people who sign in';
-- case: enum-add-value
ALTER TYPE mood ADD VALUE 'happy';
-- case: vacuum-analyze [notx]
VACUUM (ANALYZE) orders;
-- case: analyze
ANALYZE orders;
-- case: extension
CREATE EXTENSION IF NOT EXISTS pgcrypto;
-- case: schema
CREATE SCHEMA IF NOT EXISTS reporting;
-- case: sequence
CREATE SEQUENCE IF NOT EXISTS invoice_no;
