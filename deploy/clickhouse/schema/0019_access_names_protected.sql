-- Guest names are personal data like identity numbers: from now on the
-- name column holds only the mask (王*), name_hash the keyed hash for exact
-- search, and name_enc the AES-GCM ciphertext for a logged reveal. Rows
-- stored before this change still hold the clear name; serve rewrites them
-- once at start (pipeline/records.ProtectNames) and then merges the table,
-- so the clear names leave the data files.
ALTER TABLE netpulse.access_records ADD COLUMN IF NOT EXISTS name_hash String DEFAULT '' AFTER name;
ALTER TABLE netpulse.access_records ADD COLUMN IF NOT EXISTS name_enc String DEFAULT '' AFTER name_hash;
ALTER TABLE netpulse.access_records ADD INDEX IF NOT EXISTS idx_name_hash name_hash TYPE bloom_filter GRANULARITY 4;

-- Quarantined rows keep their refused input encrypted (input_enc) and,
-- like stored records, the keyed hashes of the identity number and name
-- that were sent, so a person's quarantined rows can be found (and erased)
-- by hash without decrypting anything.
ALTER TABLE netpulse.intake_quarantine ADD COLUMN IF NOT EXISTS id_hash String DEFAULT '';
ALTER TABLE netpulse.intake_quarantine ADD COLUMN IF NOT EXISTS name_hash String DEFAULT '';
