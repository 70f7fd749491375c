/**
 * Schemas for data-path tests. RICH_SCHEMA has what real applications have and dumps get wrong:
 * quoted mixed-case names ("User", "Event", "Ticket"), several schemas, sequences, views, a
 * materialized view, functions, triggers, a partitioned table, a large object, jsonb and
 * non-ASCII text.
 */
export const RICH_SCHEMA = `
CREATE SCHEMA app;
CREATE SCHEMA "Billing";
CREATE SEQUENCE app.invoice_no START 1000;

CREATE TABLE app."User" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "displayName" text NOT NULL, email text UNIQUE, profile jsonb NOT NULL DEFAULT '{}', updated_at timestamptz);
CREATE TABLE app."Event" (id serial PRIMARY KEY, title text NOT NULL, starts_at timestamptz NOT NULL, meta jsonb);
CREATE TABLE app."Ticket" (id bigserial PRIMARY KEY, "userId" bigint NOT NULL REFERENCES app."User"(id), "eventId" int NOT NULL REFERENCES app."Event"(id), seat text, price numeric(10,2));
CREATE INDEX ticket_event_idx ON app."Ticket"("eventId");

CREATE TABLE "Billing"."Invoice" (no int PRIMARY KEY DEFAULT nextval('app.invoice_no'), "userId" bigint, total numeric(12,2), note text);

CREATE TABLE app.measurements (id bigint, taken_on date NOT NULL, value double precision) PARTITION BY RANGE (taken_on);
CREATE TABLE app.measurements_2024 PARTITION OF app.measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.measurements_2025 PARTITION OF app.measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX measurements_taken_idx ON app.measurements (taken_on);

CREATE TABLE public.documents (id serial PRIMARY KEY, name text, blob oid);

CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER "User_touch" BEFORE UPDATE ON app."User" FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE FUNCTION "Billing".total_for(uid bigint) RETURNS numeric LANGUAGE sql STABLE AS $$ SELECT coalesce(sum(total), 0) FROM "Billing"."Invoice" WHERE "userId" = uid $$;
CREATE PROCEDURE app.noop() LANGUAGE sql AS $$ SELECT 1 $$;

CREATE VIEW app."UpcomingEvents" AS SELECT id, title FROM app."Event" WHERE starts_at > '2024-06-01';
CREATE VIEW "Billing".big_invoices AS SELECT * FROM "Billing"."Invoice" WHERE total > 100;
CREATE MATERIALIZED VIEW app.ticket_counts AS SELECT "eventId", count(*) AS n FROM app."Ticket" GROUP BY 1;

INSERT INTO app."User" ("displayName", email, profile)
  SELECT CASE WHEN i % 3 = 0 THEN 'Zoë Ångström ' || i WHEN i % 3 = 1 THEN '李小龍 ' || i ELSE 'Дмитрий ' || i END,
         'user' || i || '@example.com',
         jsonb_build_object('n', i, 'tags', jsonb_build_array('a', 'ü', i), 'nested', jsonb_build_object('ok', i % 2 = 0))
  FROM generate_series(1, 300) i;
INSERT INTO app."Event" (title, starts_at, meta)
  SELECT 'Konzert № ' || i, timestamptz '2024-01-01' + i * interval '3 days', jsonb_build_object('venue', 'Halle ' || i % 5)
  FROM generate_series(1, 40) i;
INSERT INTO app."Ticket" ("userId", "eventId", seat, price)
  SELECT 1 + (i % 300), 1 + (i % 40), 'R' || (i % 20) || '-' || i, (i % 90) + 0.5 FROM generate_series(1, 2000) i;
INSERT INTO "Billing"."Invoice" ("userId", total, note) SELECT 1 + (i % 300), i * 1.5, 'Rechnung für Müller' FROM generate_series(1, 150) i;
INSERT INTO app.measurements SELECT i, date '2024-01-01' + (i % 700), random() FROM generate_series(1, 3000) i;
UPDATE app."User" SET email = email WHERE id <= 10;
REFRESH MATERIALIZED VIEW app.ticket_counts;
INSERT INTO public.documents (name, blob) VALUES ('contract.pdf', lo_from_bytea(0, convert_to('große Datei — large object content', 'UTF8')));
`;

/** Incompressible rows, so a dump spans several multipart parts: about `mib` MiB of random bytea. */
export function bulkSchema(mib: number): string {
  const rows = Math.ceil((mib * 1024 * 1024) / 1024);
  return `CREATE TABLE bulk (id int PRIMARY KEY, payload bytea NOT NULL);
INSERT INTO bulk SELECT i, (SELECT string_agg(decode(md5(random()::text || i || j), 'hex'), ''::bytea) FROM generate_series(1, 64) j)
  FROM generate_series(1, ${rows}) i;`;
}
