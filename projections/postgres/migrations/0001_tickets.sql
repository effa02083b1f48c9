-- The tickets read model: one row per issued ticket, keyed by the position
-- of its TicketIssued event (its place in issue order). Its checkpoint is a
-- row of the event log's checkpoints table. Keys compare byte-wise (COLLATE
-- "C"), as SQLite's do.
CREATE TABLE tickets (
	issue_position bigint PRIMARY KEY,
	id             text COLLATE "C" NOT NULL UNIQUE,
	theater_name   text   NOT NULL,
	user_id        text   NOT NULL,
	movie_title    text   NOT NULL,
	price_krw      bigint NOT NULL,
	status         text   NOT NULL,
	memo           text,
	issued_at      text   NOT NULL,
	canceled_at    text,
	version        bigint NOT NULL
);
