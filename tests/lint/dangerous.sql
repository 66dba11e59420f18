-- case: index-plain
CREATE INDEX orders_state_idx ON orders (state);
-- case: index-unique
CREATE UNIQUE INDEX users_email_key ON users (email);
-- case: index-brin
CREATE INDEX events_at_idx ON events USING brin (at);
-- case: index-unnamed
CREATE INDEX ON orders (user_id, state);
-- case: index-partial-if-not-exists
CREATE UNIQUE INDEX IF NOT EXISTS orders_state_uq ON orders (state) WHERE state IS NOT NULL;
-- case: index-expression
CREATE INDEX orders_lower_note_idx ON orders (lower(note));
-- case: drop-index
DROP INDEX orders_user_idx;
-- case: drop-index-if-exists
DROP INDEX IF EXISTS orders_user_idx;
-- case: create-index-concurrently-in-tx
CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);
-- case: drop-index-concurrently-in-tx
DROP INDEX CONCURRENTLY orders_user_idx;
-- case: fk
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
-- case: fk-cascade
ALTER TABLE users ADD CONSTRAINT users_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE;
-- case: fk-only-match-full
ALTER TABLE ONLY orders ADD CONSTRAINT orders_user_fk2 FOREIGN KEY (user_id) REFERENCES users (id) MATCH FULL;
-- case: fk-inline-column
ALTER TABLE users ADD COLUMN ref_id bigint REFERENCES orders (id);
-- case: check
ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);
-- case: check-inline-column
ALTER TABLE users ADD COLUMN amount int CHECK (amount > 0);
-- case: check-and-fk
ALTER TABLE users ADD CONSTRAINT users_id_check CHECK (id > 0), ADD CONSTRAINT u_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id);
-- case: unique-constraint
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
-- case: unique-inline-column
ALTER TABLE users ADD COLUMN code text UNIQUE;
-- case: unique-with-other-subcommand
ALTER TABLE orders ADD COLUMN id2 int, ADD CONSTRAINT o_u UNIQUE (user_id);
-- case: primary-key
ALTER TABLE events ADD PRIMARY KEY (id);
-- case: primary-key-named
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id);
-- case: set-not-null
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
-- case: set-not-null-two
ALTER TABLE orders ALTER COLUMN state SET NOT NULL, ALTER COLUMN note SET NOT NULL;
-- case: not-null-no-default
ALTER TABLE users ADD COLUMN plan text NOT NULL;
-- case: not-null-no-default-with-other
ALTER TABLE orders ADD COLUMN state2 text NOT NULL, ADD COLUMN x int;
-- case: default-gen-random-uuid
ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();
-- case: default-not-null-uuid
ALTER TABLE orders ADD COLUMN uid uuid NOT NULL DEFAULT gen_random_uuid();
-- case: default-clock-timestamp
ALTER TABLE users ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();
-- case: default-random
ALTER TABLE users ADD COLUMN r double precision DEFAULT random();
-- case: default-volatile-expression
ALTER TABLE users ADD COLUMN joined timestamptz DEFAULT now() + random() * interval '1 day';
-- case: add-bigserial
ALTER TABLE events ADD COLUMN seq bigserial;
-- case: add-identity
ALTER TABLE events ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;
-- case: add-stored-generated
ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS (total * 100) STORED;
-- case: type-numeric-scale
ALTER TABLE orders ALTER COLUMN total TYPE numeric(10,4);
-- case: type-bigint-to-int
ALTER TABLE users ALTER COLUMN id TYPE int;
-- case: type-varchar-narrow
ALTER TABLE orders ALTER COLUMN note TYPE varchar(20);
-- case: type-timestamptz
ALTER TABLE events ALTER COLUMN at TYPE timestamptz;
-- case: type-bigint-to-text
ALTER TABLE users ALTER COLUMN org_id TYPE text;
-- case: type-text-to-enum
ALTER TABLE orders ALTER COLUMN state TYPE mood USING state::mood;
-- case: type-using-cast
ALTER TABLE orders ALTER COLUMN note TYPE integer USING note::integer;
-- case: drop-column
ALTER TABLE users DROP COLUMN fax;
-- case: drop-column-if-exists-cascade
ALTER TABLE users DROP COLUMN IF EXISTS fax CASCADE;
-- case: drop-column-if-table-exists
ALTER TABLE IF EXISTS users DROP COLUMN status;
-- case: drop-column-in-do
DO $$ BEGIN ALTER TABLE users DROP COLUMN status; END $$;
-- case: drop-table
DROP TABLE events;
-- case: drop-table-cascade
DROP TABLE IF EXISTS orgs CASCADE;
-- case: drop-two-tables
DROP TABLE orders, events;
-- case: truncate
TRUNCATE orders;
-- case: truncate-restart
TRUNCATE TABLE events RESTART IDENTITY;
-- case: delete-all
DELETE FROM orders;
-- case: delete-all-using
DELETE FROM users USING orgs;
-- case: rename-column
ALTER TABLE users RENAME COLUMN name TO full_name;
-- case: rename-column-total
ALTER TABLE orders RENAME COLUMN total TO amount;
-- case: rename-table
ALTER TABLE users RENAME TO accounts;
-- case: drop-add-rename
ALTER TABLE users DROP COLUMN name;
ALTER TABLE users ADD COLUMN full_name text;
-- case: two-tables-access-exclusive
ALTER TABLE users ADD COLUMN a text;
ALTER TABLE orders ADD COLUMN b text;
-- case: backfill-after-ddl
ALTER TABLE users ADD COLUMN plan text;
UPDATE users SET plan = 'free';
-- case: vacuum-full [notx]
VACUUM FULL orders;
-- case: cluster
CLUSTER orders USING orders_user_idx;
-- case: reindex-table [notx]
REINDEX TABLE orders;
-- case: reindex-index [notx]
REINDEX INDEX orders_user_idx;
-- case: long-table-name
CREATE TABLE this_is_a_very_long_table_name_that_postgres_will_truncate_silently_x (id int);
-- case: long-column-name
ALTER TABLE users ADD COLUMN this_column_name_is_way_longer_than_sixty_three_bytes_for_sure_ok int;
