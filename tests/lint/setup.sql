-- The schema every case runs against: an earlier revision made these tables.
CREATE TABLE orgs (id bigint PRIMARY KEY, name text);
CREATE TABLE users (id bigint PRIMARY KEY, email varchar(255), name text, fax text,
                    status text, created_at timestamptz, org_id bigint);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, total numeric(10,2),
                     note varchar(50), state text);
CREATE TABLE events (id bigint, payload jsonb, at timestamp);
CREATE INDEX orders_user_idx ON orders (user_id);
CREATE UNIQUE INDEX users_email_idx ON users (email);
CREATE TYPE mood AS ENUM ('ok', 'sad');
