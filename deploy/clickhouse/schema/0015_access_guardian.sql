-- A hotel that takes in a minor records the guardian's contact and how the
-- party is related (Law on the Protection of Minors, art. 57); both are
-- optional and empty for everyone else. The minor's birth date, which the
-- compliance checks read on the bus, is deliberately not a column.
ALTER TABLE netpulse.access_records ADD COLUMN IF NOT EXISTS guardian_contact String DEFAULT '' AFTER party_size;
ALTER TABLE netpulse.access_records ADD COLUMN IF NOT EXISTS guardian_relation String DEFAULT '' AFTER guardian_contact;
