-- A destination may ask for the original request's headers (minus hop-by-hop and credentials)
-- along with ours, so a receiver that verifies the provider's own signature works unchanged.
-- Off by default: the claim query reads an event's stored headers only for destinations
-- that turned it on.
ALTER TABLE destinations ADD COLUMN forward_original_headers INTEGER NOT NULL DEFAULT 0;
