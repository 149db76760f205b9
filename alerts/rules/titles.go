package rules

import (
	"fmt"
	"time"
)

// Alert titles and resolve reasons are written in Chinese, the working
// language of the units netpulse serves: they are stored with the alert and
// go out unchanged in webhooks, mail and the digest.

// resumed is the reason a flatline alert resolves itself.
const resumed = "自动解除：已恢复上报"

// ofName names what a flatline rule watches.
var ofName = map[string]string{"venue": "场所", "source": "采集源"}

// chinaTime is where titles print times: the units' clocks.
var chinaTime = time.FixedZone("CST", 8*3600)

// zhDuration prints d in Chinese units, largest first, to the second:
// 1小时30分钟, 45秒.
func zhDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0秒"
	}
	out := ""
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "天"}, {time.Hour, "小时"}, {time.Minute, "分钟"}, {time.Second, "秒"}} {
		if n := d / u.d; n > 0 {
			out += fmt.Sprintf("%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return out
}

// display is the name a rule goes by on its cards: its title, or else its
// identifier.
func display(r Rule) string {
	if r.Title != "" {
		return r.Title
	}
	return r.Name
}
