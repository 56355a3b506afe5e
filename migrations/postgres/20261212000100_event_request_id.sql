-- The id of the HTTP request that made a change (its `X-Request-Id`), so that an operator
-- can follow one change from the request's log lines to its event and each delivery of
-- it. A trace id, not evidence: the event log's seals do not cover it.
ALTER TABLE events ADD COLUMN request_id TEXT;
