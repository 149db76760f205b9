package reports

// The report SQL. Every figure is computed by ClickHouse; Go only binds the
// period bounds and the unit, and lays the results out. Each figure query
// covers the current and the previous period at once, labelling rows
// p = 'cur' or 'prev', so that the comparison costs no second pass.
//
// Bounds are written as markers ({S}, {E}, ...) and replaced with bound
// literals by binding.expand, so that a query can use one several times.

// Upstream tables the report reads, with the schema file that defines each.
const (
	tblVenues     = "netpulse.venues"            // 0012_venues.sql, synced from the access registry
	tblRecords    = "netpulse.access_records"    // 0010_access_records.sql
	tblQuarantine = "netpulse.intake_quarantine" // 0011_intake_quarantine.sql
	tblAudit      = "netpulse.audit_log"         // 0013_audit_log.sql
	tblPosts      = "netpulse.posts"             // 0020_posts.sql
	tblCrawlRuns  = "netpulse.crawl_runs"        // 0021_crawl_runs.sql, one row per feed source run
	tblAlerts     = "netpulse.alerts"            // 0031_alerts.sql
)

// roster is the registered venues: the registry's copy in ClickHouse,
// without revoked venues.
const roster = `SELECT code AS venue, unit FROM ` + tblVenues + ` FINAL WHERE revoked = 0`

// delayMs is a record's delivery delay, measured from its event time: the
// end for a record that carries one (a closing update), else the start, as
// the intake delivery accounting (pipeline/records) measures it.
const delayMs = `toUnixTimestamp64Milli(received_at)
         - toUnixTimestamp64Milli(if(toUnixTimestamp64Milli(ended_at) > 0, ended_at, started_at))`

// delivered is one row per record (FINAL keeps its latest version) that
// arrived in either period.
const delivered = `
SELECT record_id, venue, received_at AS received, ` + delayMs + ` AS delay_ms
FROM ` + tblRecords + ` FINAL
WHERE received_at >= {PS} AND received_at < {E}`

// unitVenues restricts a venue column to the selected unit (empty = district).
const unitVenues = `({U} = '' OR venue IN (SELECT venue FROM (` + roster + `) WHERE unit = {U}))`

const qCoverage = `
SELECT x.p AS p,
       toFloat64(countIf(d.venue != '')) AS delivering,
       toFloat64(count()) AS registered,
       if(registered = 0, NULL, delivering / registered) AS coverage
FROM (
    SELECT ps.p AS p, r.venue AS venue
    FROM (` + roster + `) AS r
    CROSS JOIN (SELECT arrayJoin(['cur', 'prev']) AS p) AS ps
    WHERE {U} = '' OR r.unit = {U}
) AS x
LEFT JOIN (
    SELECT DISTINCT venue, if(received_at >= {S}, 'cur', 'prev') AS p
    FROM ` + tblRecords + `
    WHERE received_at >= {PS} AND received_at < {E}
) AS d ON d.venue = x.venue AND d.p = x.p
GROUP BY x.p
SETTINGS join_use_nulls = 0`

const qDelivery = `
SELECT if(received >= {S}, 'cur', 'prev') AS p,
       toFloat64(count()) AS records,
       toFloat64(countIf(delay_ms <= 300000)) AS within_5m,
       toFloat64(countIf(delay_ms <= 86400000)) AS within_24h,
       within_5m / records AS share_5m,
       within_24h / records AS share_24h
FROM (` + delivered + `)
WHERE ` + unitVenues + `
GROUP BY p`

const qValid = `
SELECT p, toFloat64(sum(acc)) AS accepted, toFloat64(sum(rej)) AS rejected,
       accepted + rejected AS received_rows,
       if(received_rows = 0, NULL, accepted / received_rows) AS valid_share
FROM (
    SELECT if(received >= {S}, 'cur', 'prev') AS p, 1 AS acc, 0 AS rej
    FROM (` + delivered + `)
    WHERE ` + unitVenues + `
    UNION ALL
    SELECT if(received_at >= {S}, 'cur', 'prev') AS p, 0 AS acc, 1 AS rej
    FROM ` + tblQuarantine + ` FINAL
    WHERE received_at >= {PS} AND received_at < {E} AND ` + unitVenues + `
)
GROUP BY p`

// A quarantined row carries every problem found in it, as a JSON array of
// {row, field, reason}; each problem counts once. Quoted values inside a
// reason (unknown kind "x") are blanked so that one reason is one line,
// whatever the operators typed.
const qReasons = `
SELECT p, JSONExtractString(e, 'field') AS field,
       replaceRegexpAll(JSONExtractString(e, 'reason'), '"[^"]*"', '"…"') AS why,
       toFloat64(count()) AS n
FROM (
    SELECT if(received_at >= {S}, 'cur', 'prev') AS p, arrayJoin(JSONExtractArrayRaw(errors)) AS e
    FROM ` + tblQuarantine + ` FINAL
    WHERE received_at >= {PS} AND received_at < {E} AND ` + unitVenues + `
)
GROUP BY p, field, why
ORDER BY p, n DESC, field, why`

// silentGaps lists every gap longer than {T} seconds between a venue's
// consecutive deliveries, seeded with its last delivery before the previous
// period, and closed by the end of the period (or now, for the period in
// progress) when the venue is still silent (open = 1).
const silentGaps = `
SELECT venue, prev_t AS gap_from, t AS gap_to, open
FROM (
    SELECT venue, t, open,
           lagInFrame(t, 1) OVER (PARTITION BY venue ORDER BY t ASC ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS prev_t,
           row_number() OVER (PARTITION BY venue ORDER BY t ASC) AS rn
    FROM (
        SELECT venue, max(received_at) AS t, 0 AS open FROM ` + tblRecords + ` FINAL
        WHERE received_at < {PS} AND ` + unitVenues + ` GROUP BY venue
        UNION ALL
        SELECT DISTINCT venue, received_at AS t, 0 AS open FROM ` + tblRecords + ` FINAL
        WHERE received_at >= {PS} AND received_at < {E} AND ` + unitVenues + `
        UNION ALL
        SELECT DISTINCT venue, least({E}, {NOW}) AS t, 1 AS open FROM ` + tblRecords + `
        WHERE received_at < {E} AND ` + unitVenues + `
    )
)
WHERE rn > 1 AND toUnixTimestamp64Milli(t) - toUnixTimestamp64Milli(prev_t) > {T} * 1000`

// silentIncidents clips each gap to each period it overlaps.
const silentIncidents = `
SELECT tupleElement(w, 1) AS p, venue, gap_from, gap_to, open,
       greatest(gap_from, tupleElement(w, 2)) AS silent_from,
       least(gap_to, tupleElement(w, 3)) AS silent_to,
       (toUnixTimestamp64Milli(silent_to) - toUnixTimestamp64Milli(silent_from)) / 1000 AS seconds
FROM (` + silentGaps + `)
ARRAY JOIN [('cur', {S}, {E}), ('prev', {PS}, {S})] AS w
WHERE silent_to > silent_from`

const qSilentSummary = `
SELECT p, toFloat64(count()) AS incidents, toFloat64(sum(seconds)) AS silent_seconds,
       toFloat64(max(seconds)) AS longest_seconds, toFloat64(uniqExact(venue)) AS venues
FROM (` + silentIncidents + `)
GROUP BY p`

const qSilentList = `
SELECT venue, silent_from, silent_to, toFloat64(seconds) AS seconds, open
FROM (` + silentIncidents + `)
WHERE p = 'cur'
ORDER BY seconds DESC, venue, silent_from
LIMIT 200`

const qFeeds = `
SELECT if(fetched_at >= {S}, 'cur', 'prev') AS p,
       toFloat64(uniqExact(source)) AS sources_active,
       toFloat64(count()) AS posts
FROM ` + tblPosts + ` FINAL
WHERE fetched_at >= {PS} AND fetched_at < {E}
GROUP BY p`

const qCrawl = `
SELECT if(started_at >= {S}, 'cur', 'prev') AS p,
       toFloat64(countIf(ok = 1)) AS runs_ok, toFloat64(count()) AS runs,
       runs_ok / runs AS crawl_success
FROM ` + tblCrawlRuns + `
WHERE started_at >= {PS} AND started_at < {E}
GROUP BY p`

// Inhibited alerts (suppressed_by set) never reached an officer and are
// left out. {SLA} is the acknowledgement deadline in seconds, by severity,
// as the alert lifecycle applies it.
const qAlerts = `
SELECT if(opened_at >= {S}, 'cur', 'prev') AS p,
       toFloat64(count()) AS raised,
       toFloat64(countIf(acked_at IS NOT NULL AND
           toUnixTimestamp64Milli(assumeNotNull(acked_at)) - toUnixTimestamp64Milli(opened_at) <= 1000 * {SLA})) AS acked_in_sla,
       acked_in_sla / raised AS sla_share,
       avgIf(toUnixTimestamp64Milli(assumeNotNull(acked_at)) - toUnixTimestamp64Milli(opened_at), acked_at IS NOT NULL) / 1000 AS mtta_seconds,
       avgIf(toUnixTimestamp64Milli(assumeNotNull(resolved_at)) - toUnixTimestamp64Milli(opened_at), resolved_at IS NOT NULL) / 1000 AS mttr_seconds,
       toFloat64(countIf(feedback = 'useful')) AS useful,
       toFloat64(countIf(feedback IN ('useful', 'noise'))) AS judged,
       if(judged = 0, NULL, useful / judged) AS precision
FROM ` + tblAlerts + ` FINAL
WHERE opened_at >= {PS} AND opened_at < {E} AND suppressed_by = '' AND ({U} = '' OR unit = {U})
GROUP BY p`

// personalActions are the audit actions that touch personal data
// (search/records: search, export, reveal, and lookup, an exact-number
// search, which counts with reveals). {ACTOR_UNIT} is the unit of the
// acting user, from the access registry. Case references are cut to 64
// characters as they are read: the report's size and time never depend on
// how long junk in the log is (entries written before case references had a
// form may hold anything).
const personalActions = `('search', 'export', 'reveal', 'lookup')`

const qSearchSummary = `
SELECT if(at >= {S}, 'cur', 'prev') AS p,
       toFloat64(count()) AS searches,
       toFloat64(uniqExactIf(case_ref, case_ref != '')) AS cases,
       toFloat64(countIf(action IN ('reveal', 'lookup'))) AS reveals
FROM ` + tblAudit + `
WHERE at >= {PS} AND at < {E} AND action IN ` + personalActions + ` AND ({U} = '' OR {ACTOR_UNIT} = {U})
GROUP BY p`

const qSearchByCase = `
SELECT leftUTF8(toValidUTF8(case_ref), 64) AS case_ref, toFloat64(count()) AS searches, toFloat64(countIf(action IN ('reveal', 'lookup'))) AS reveals,
       toFloat64(countIf(outcome != 'ok')) AS refused,
       toFloat64(uniqExact(actor)) AS officers, toFloat64(sum(rows)) AS rows_returned
FROM ` + tblAudit + `
WHERE at >= {S} AND at < {E} AND action IN ` + personalActions + ` AND ({U} = '' OR {ACTOR_UNIT} = {U})
GROUP BY case_ref
ORDER BY searches DESC, case_ref
LIMIT 200`

// qRanking scores every unit of the roster over one period [{S}, {E}).
// Score = 100 × (0.4 × coverage + 0.3 × share within 5 min + 0.3 × valid
// share), a share of nothing counting as 0.
const qRanking = `
WITH roster AS (` + roster + `),
rec AS (
    SELECT venue, ` + delayMs + ` AS delay_ms
    FROM ` + tblRecords + ` FINAL
    WHERE received_at >= {S} AND received_at < {E}
)
SELECT u.unit AS unit,
       toFloat64(u.registered) AS registered,
       toFloat64(dv.delivering) AS delivering,
       toFloat64(d.records) AS records,
       toFloat64(d.within_5m) AS within_5m,
       toFloat64(j.rejected) AS rejected,
       if(registered = 0, 0, delivering / registered) AS coverage,
       if(records = 0, 0, within_5m / records) AS share_5m,
       if(records + rejected = 0, 0, records / (records + rejected)) AS valid_share,
       round(100 * (0.4 * coverage + 0.3 * share_5m + 0.3 * valid_share), 1) AS score
FROM (SELECT unit, count() AS registered FROM roster GROUP BY unit) AS u
LEFT JOIN (
    SELECT r.unit AS unit, count() AS records, countIf(f.delay_ms <= 300000) AS within_5m
    FROM rec AS f INNER JOIN roster AS r ON r.venue = f.venue
    GROUP BY r.unit
) AS d ON d.unit = u.unit
LEFT JOIN (
    SELECT r.unit AS unit, uniqExact(x.venue) AS delivering
    FROM ` + tblRecords + ` AS x INNER JOIN roster AS r ON r.venue = x.venue
    WHERE x.received_at >= {S} AND x.received_at < {E}
    GROUP BY r.unit
) AS dv ON dv.unit = u.unit
LEFT JOIN (
    SELECT r.unit AS unit, count() AS rejected
    FROM (SELECT venue FROM ` + tblQuarantine + ` FINAL WHERE received_at >= {S} AND received_at < {E}) AS x
    INNER JOIN roster AS r ON r.venue = x.venue
    GROUP BY r.unit
) AS j ON j.unit = u.unit
ORDER BY score DESC, unit
SETTINGS join_use_nulls = 0`

const qDailyRecords = `
SELECT toString(toDate(received, 'Asia/Shanghai')) AS day,
       toFloat64(count()) AS records,
       toFloat64(countIf(delay_ms <= 300000)) / records AS share_5m
FROM (` + delivered + `)
WHERE received >= {S} AND ` + unitVenues + `
GROUP BY day
ORDER BY day`

const qDailyAlerts = `
SELECT toString(toDate(opened_at, 'Asia/Shanghai')) AS day, toFloat64(count()) AS raised
FROM ` + tblAlerts + ` FINAL
WHERE opened_at >= {S} AND opened_at < {E} AND suppressed_by = '' AND ({U} = '' OR unit = {U})
GROUP BY day
ORDER BY day`

// qUnits lists the units of the roster for the unit selector.
const qUnits = `SELECT DISTINCT unit FROM (` + roster + `) ORDER BY unit`

// qCompliance is the venue compliance section (alerts/compliance): per
// venue and kind, the violations (each counted once: an alert's
// occurrences) and the mean time from an alert opening to its resolution,
// for both periods by the day its alert opened. The venue is the first
// part of the alert's dedup key, "venue:CODE/WINDOW".
const qCompliance = `
SELECT venue, rule,
       toFloat64(sumIf(occurrences, p = 'cur')) AS violations,
       toFloat64(sumIf(occurrences, p = 'prev')) AS previous,
       avgIfOrNull(dateDiff('second', opened_at, resolved_at), p = 'cur' AND state = 'resolved') AS resolve_seconds,
       avgIfOrNull(dateDiff('second', opened_at, resolved_at), p = 'prev' AND state = 'resolved') AS previous_resolve_seconds
FROM (
    SELECT extract(dedup_key, '^venue:([^/]+)') AS venue, rule, occurrences, opened_at, assumeNotNull(resolved_at) AS resolved_at, state,
           if(opened_at >= {S}, 'cur', 'prev') AS p
    FROM ` + tblAlerts + ` FINAL
    WHERE kind = 'compliance' AND opened_at >= {PS} AND opened_at < {E}
)
WHERE ` + unitVenues + `
GROUP BY venue, rule
ORDER BY violations DESC, venue, rule`
