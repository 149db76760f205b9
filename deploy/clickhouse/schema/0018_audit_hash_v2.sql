-- Entries appended from now on hash a canonical, length-prefixed encoding
-- (version 2) instead of newline-joined fields (version 1), so that no
-- field value can move a field boundary. Existing entries keep version 1
-- and verify as they always did.
ALTER TABLE netpulse.audit_log ADD COLUMN IF NOT EXISTS hash_v UInt8 DEFAULT 1;
