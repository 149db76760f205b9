// Package compliance checks venue access records, as they are stored,
// against the real-name and child-protection rules venues must keep, and
// raises what it finds into the alert lifecycle.
//
// The checks (rule name, severity, what fires it):
//
//	compliance-minor-cafe         critical  a café session whose holder is under 18 at its start
//	                                        (Regulations on Internet Access Service Business Sites, art. 21)
//	compliance-minor-hotel        critical  a hotel guest under 18 without a guardian's contact and
//	                                        relation recorded (Law on the Protection of Minors, art. 57)
//	compliance-shared-id          warning   one identity (keyed hash) in two café sessions at once:
//	                                        at two cafés, or on two terminals of one café
//	compliance-terminal-overlap   warning   a café session starting on a terminal before the
//	                                        previous session there ended
//	compliance-long-session       info      a café session longer than 24 h, or one still open
//	                                        when it arrives more than 24 h after its start
//	compliance-registration-gap   warning   a venue's rejected-row share, or its share of rows
//	                                        refused for a missing identity, over a threshold today
//
// Silence stays with the flatline rule of package rules.
//
// Only café sessions are compared for one identity at two places: a café
// user sits at the terminal, so two sessions at once mean two people on
// one card. A hotel stay is not presence: its guest is out in cafés, and
// on a travel day one stay overlaps the next hotel's check-in.
//
// Age: identity.AgeAt, in full years on the China calendar; on the 18th
// birthday a person still counts as 17, a 29 February child turns 18 on
// 1 March. Only minors' records carry a birth date on the bus.
//
// Where it runs: the records writer calls Process with each batch after
// ClickHouse holds it, and fails the batch (to replay it) if Process fails.
// So every stored record is checked, a crash replays what was not, and the
// store is a complete picture of what the checker has seen, from which it
// rebuilds its memory when it starts (Load).
//
// No repeats: a violation's id derives from the rule and the record ids
// it involves; an alert's id derives from the rule, the venue and the hour
// (China time) in which the violating session started. An alert keeps the
// ids of its violations in its payload and grows (lifecycle Occurrences)
// only by new ones, so a replay after a restart changes nothing. A
// violation for a window whose alert was resolved opens a follow-up alert
// whose id derives from the resolved one. An officer's silence set from
// one of these alerts covers the venue and the rule for its duration, not
// only the hour that raised it (Subject, wired into the lifecycle).
//
// Memory: the overlap checks keep café sessions that are open, or that
// ended within Horizon, indexed by identity hash and by terminal: cost per
// active session, not per person ever seen. A session without an end
// counts as open until MaxOpen after its start. A record older than the
// horizon (a venue's agent was offline) is checked against the store
// instead, and its alert says it is late. A conflict that rests on a
// session still open waits Grace for a closing update already on its way
// before it counts; a conflict between ended sessions counts at once.
//
// An alert's payload (Payload):
//
//	{"check":"compliance-minor-cafe","venue":"JA-C03","venue_name":"…","venue_kind":"cafe",
//	 "window_start":"…","window_end":"…","count":3,"late":0,
//	 "violations":[{"id":"…","venue":"JA-C03","place":"M01","record_id":"…",
//	   "id_masked":"420199********9907","started_at":"…","ended_at":"…","received_at":"…",
//	   "age":16,"late":false,"other":{"venue":"…","venue_name":"…","place":"…","record_id":"…",
//	   "started_at":"…","ended_at":"…"}}],
//	 "seen":["violation id",…],
//	 "gap":{"day":"2026-12-05","accepted":30,"rejected":10,"missing_identity":0,
//	   "rejected_share":0.25,"missing_share":0}}
//
// No following people: alerts carry masked numbers and record ids, never
// identity hashes, and nothing here lists one person's sessions.
package compliance
