-- The sales read model: totals per theater and per movie, and issues and
-- refunds per UTC minute (the first 16 characters of occurred_at).
CREATE TABLE sales_totals (
	dimension   text COLLATE "C" NOT NULL,
	name        text COLLATE "C" NOT NULL,
	issued      bigint NOT NULL,
	canceled    bigint NOT NULL,
	revenue_krw bigint NOT NULL,
	PRIMARY KEY (dimension, name)
);
CREATE TABLE sales_minutes (
	minute   text COLLATE "C" PRIMARY KEY,
	issued   bigint NOT NULL,
	canceled bigint NOT NULL
);
