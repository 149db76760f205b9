package notify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/netpulse/netpulse/access"
)

// Stream serves GET /api/v1/alerts/stream: server-sent events, one per
// alert change, "event: <type>" with the lifecycle.Event JSON as data,
// and a ": ping" comment every 15 s to keep proxies from closing the
// connection. The board loads GET /api/v1/alerts first and then applies
// events by alert id; after a reconnect it reloads the list.
func Stream(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fl, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		// Duty officers and leaders see their own unit's alerts only.
		unit, scoped := "", true
		if p, ok := access.FromContext(r.Context()); ok {
			unit, scoped = p.UnitScope()
		}
		events, cancel := src.Subscribe(256)
		defer cancel()
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, ": connected\nretry: 3000\n\n")
		fl.Flush()
		ping := time.NewTicker(15 * time.Second)
		defer ping.Stop()
		// The server's WriteTimeout would cut the stream; each write gets
		// its own deadline instead.
		rc := http.NewResponseController(w)
		for {
			_ = rc.SetWriteDeadline(time.Now().Add(45 * time.Second))
			select {
			case <-r.Context().Done():
				return
			case <-ping.C:
				fmt.Fprint(w, ": ping\n\n")
				fl.Flush()
			case e, ok := <-events:
				if !ok {
					return
				}
				if scoped && e.Alert.Unit != unit {
					continue
				}
				b, err := json.Marshal(e)
				if err != nil {
					continue
				}
				fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, b)
				fl.Flush()
			}
		}
	})
}
