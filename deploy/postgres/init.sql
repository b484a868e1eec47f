-- One database and one role per owner. No role can connect to another owner's database:
-- CONNECT is revoked from PUBLIC and granted to the owner alone.
CREATE ROLE monolith  LOGIN PASSWORD 'monolith';
CREATE ROLE inventory LOGIN PASSWORD 'inventory';
CREATE ROLE payments  LOGIN PASSWORD 'payments';
CREATE ROLE proxy     LOGIN PASSWORD 'proxy';
CREATE ROLE orders    LOGIN PASSWORD 'orders';

CREATE DATABASE monolith  OWNER monolith;
CREATE DATABASE inventory OWNER inventory;
CREATE DATABASE payments  OWNER payments;
CREATE DATABASE proxy     OWNER proxy;
CREATE DATABASE orders    OWNER orders;

REVOKE ALL ON DATABASE monolith  FROM PUBLIC;
REVOKE ALL ON DATABASE inventory FROM PUBLIC;
REVOKE ALL ON DATABASE payments  FROM PUBLIC;
REVOKE ALL ON DATABASE proxy     FROM PUBLIC;
REVOKE ALL ON DATABASE orders    FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE monolith  TO monolith;
GRANT CONNECT, TEMPORARY ON DATABASE inventory TO inventory;
GRANT CONNECT, TEMPORARY ON DATABASE payments  TO payments;
GRANT CONNECT, TEMPORARY ON DATABASE proxy     TO proxy;
GRANT CONNECT, TEMPORARY ON DATABASE orders    TO orders;
