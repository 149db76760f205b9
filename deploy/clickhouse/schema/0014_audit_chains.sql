-- Each serve node appends to its own audit chain, so that several api
-- nodes never race for the same sequence number; verification walks every
-- chain. The single-node chain is ''.
ALTER TABLE netpulse.audit_log ADD COLUMN IF NOT EXISTS chain String DEFAULT '' FIRST;
