package records

import (
	"context"
	"fmt"
	"time"
)

// LateAfter is how long after the event (start, or end for a closing
// update) a record may arrive before it counts as late: the rule is
// "upload at once", and venue software batches for a few minutes.
const LateAfter = 15 * time.Minute

// Delivery is one venue's delivery accounting at a moment.
type Delivery struct {
	Venue        string    `json:"venue"`
	Name         string    `json:"name"`
	District     string    `json:"district"`
	LastDelivery time.Time `json:"last_delivery,omitzero"`
	LastHour     uint64    `json:"last_hour"`      // records that arrived in the last hour
	UsualPerHour float64   `json:"usual_per_hour"` // mean per hour over the 7 days before that
	Late24h      uint64    `json:"late_24h"`       // records of the last 24 h that arrived late
	Arrived24h   uint64    `json:"arrived_24h"`
	P95DelayS    float64   `json:"p95_delay_s"` // arrival delay over the last 24 h
	Silent       bool      `json:"silent"`      // usually delivers but sent nothing this hour
}

// Deliveries computes the accounting of every venue that is registered or
// has delivered, as of now. A record's delay is measured from its event
// time: the end for a closing update, else the start.
func Deliveries(ctx context.Context, db interface {
	Select(ctx context.Context, dest any, query string, args ...any) error
}, now time.Time) ([]Delivery, error) {
	var out []Delivery
	err := db.Select(ctx, &out, `
WITH r AS (
    SELECT venue, received_at,
           dateDiff('millisecond', if(toUnixTimestamp64Milli(ended_at) > 0, ended_at, started_at), received_at) / 1000.0 AS delay_s
    FROM netpulse.access_records FINAL
    WHERE received_at >= ? - INTERVAL 8 DAY
),
agg AS (
    SELECT venue,
           max(received_at) AS last_delivery,
           countIf(received_at >= ? - INTERVAL 1 HOUR) AS last_hour,
           countIf(received_at < ? - INTERVAL 1 HOUR AND received_at >= ? - INTERVAL 169 HOUR) / 168.0 AS usual_per_hour,
           countIf(received_at >= ? - INTERVAL 1 DAY AND delay_s > ?) AS late_24h,
           countIf(received_at >= ? - INTERVAL 1 DAY) AS arrived_24h,
           quantileIf(0.95)(delay_s, received_at >= ? - INTERVAL 1 DAY) AS p95_delay_s
    FROM r GROUP BY venue
)
SELECT if(v.code = '', a.venue, v.code) AS venue, v.name AS name, v.district AS district,
       a.last_delivery AS last_delivery, a.last_hour AS last_hour, a.usual_per_hour AS usual_per_hour,
       a.late_24h AS late_24h, a.arrived_24h AS arrived_24h,
       if(isFinite(a.p95_delay_s), a.p95_delay_s, 0) AS p95_delay_s,
       CAST(a.usual_per_hour >= 1 AND a.last_hour = 0, 'Bool') AS silent
FROM (SELECT * FROM netpulse.venues FINAL) AS v
FULL OUTER JOIN agg AS a ON a.venue = v.code
ORDER BY venue
SETTINGS join_use_nulls = 0`, now, now, now, now, now, LateAfter.Seconds(), now, now)
	if err != nil {
		return nil, fmt.Errorf("delivery accounting: %w", err)
	}
	for i := range out {
		if out[i].LastDelivery.Unix() <= 0 {
			out[i].LastDelivery = time.Time{}
		}
	}
	return out, nil
}
