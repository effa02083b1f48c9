-- The compose profile `cluster` keeps its log in a database of its own, so
-- that it and the profile `postgres` (database ticketd) never hold the same
-- log. The postgres image runs this once, when it initialises its volume.
CREATE DATABASE ticketd_cluster OWNER ticketd;
