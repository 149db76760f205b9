package main

import (
	"github.com/netpulse/netpulse/privacy/caseref"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/netpulse/netpulse/privacy/audit"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/collectors/intake"
	"github.com/netpulse/netpulse/pipeline/bus"
	precords "github.com/netpulse/netpulse/pipeline/records"
	"github.com/netpulse/netpulse/privacy/identity"
	srecords "github.com/netpulse/netpulse/search/records"
)

// wireIntake connects venue intake (HTTP → raw.access), the records writer
// (raw.access → ClickHouse), the venue sync and legal holds, record search
// with its audit log, and the demo venues, users and record stream.
func (a *app) wireIntake(ctx context.Context) error {
	keys, err := identity.LoadKeys(a.cfg.Data, a.cfg.IDHashKey, a.cfg.IDEncKey)
	if err != nil {
		return fmt.Errorf("intake keys: %w", err)
	}
	prot, err := identity.NewProtector(keys)
	if err != nil {
		return err
	}
	hotel := a.cfg.HotelRetention
	if hotel == 0 {
		hotel = a.cfg.AccessRetention
	}
	if hotel < 60*24*time.Hour {
		return fmt.Errorf("retention-access-hotel: %v is under the legal minimum of 60 days", hotel)
	}
	retention := func(kind string) time.Duration {
		if kind == "hotel" {
			return hotel
		}
		return a.cfg.AccessRetention
	}
	log := a.log.With("part", "intake")
	svc, err := intake.New(intake.Options{
		Producer:     a.bus,
		ShareTimeout: a.cfg.PublishTimeout,
		DB:           a.db,
		VenueKind: func(ctx context.Context, code string) (string, error) {
			v, err := a.access.Venue(ctx, code)
			if err != nil {
				return "", err
			}
			if v.Revoked {
				return "", errors.New("venue key revoked")
			}
			return v.Kind, nil
		},
		Protect:    prot,
		ReceiptKey: keys.Receipt,
		LedgerPath: filepath.Join(a.cfg.Data, "intake", "ledger.db"),
		Retention:  retention,
		Log:        log,
		Reg:        a.reg,
	})
	if err != nil {
		return err
	}
	if len(a.cfg.Kafka) > 0 {
		// Behind a load balancer a retry may reach any node: answers and
		// receipts live in the shared state topic.
		l, err := a.share(ctx, intake.StateTable, svc.StateTable())
		if err != nil {
			svc.Close()
			return err
		}
		svc.Share(l)
	}
	svc.Routes(a.muxFor("intake"), a.access)
	svcCtx, svcCancel := context.WithCancel(ctx)
	a.group.Add(func() error { defer svc.Close(); return svc.Run(svcCtx) }, func(error) { svcCancel() })

	writer := precords.New(precords.Options{Bus: a.bus, DB: a.db, DeadLetter: a.dead, BatchRows: a.cfg.BatchRows,
		BatchDelay: a.cfg.BatchDelay, AfterStore: a.afterRecords, Log: a.log.With("part", "records"), Reg: a.reg})
	if a.cfg.hasRole("process") {
		// Records stored before names were protected get them masked,
		// hashed and encrypted once, in the background (schema 0019).
		nctx, ncancel := context.WithCancel(ctx)
		a.group.Add(func() error {
			if n, err := precords.ProtectNames(nctx, a.db, prot); err != nil && nctx.Err() == nil {
				a.log.Error("protect stored names", "rewritten", n, "err", err)
			} else if n > 0 {
				a.log.Info("protected stored names", "rewritten", n)
			}
			<-nctx.Done()
			return nil
		}, func(error) { ncancel() })
		wctx, wcancel := context.WithCancel(ctx)
		a.group.Add(func() error { return writer.Run(wctx) }, func(error) { wcancel() })
		a.watchLag("records", bus.TopicAccess)
	}
	venues := func(ctx context.Context) ([]precords.Venue, error) {
		vs, err := a.access.Venues(ctx)
		out := make([]precords.Venue, len(vs))
		for i, v := range vs {
			out[i] = precords.Venue{Code: v.Code, Kind: v.Kind, Name: v.Name, District: v.District, Unit: v.Unit,
				LegalHold: v.LegalHold, Revoked: v.Revoked}
		}
		return out, err
	}
	if a.cfg.hasRole("process") {
		sctx, scancel := context.WithCancel(ctx)
		a.group.Add(func() error { return writer.RunVenueSync(sctx, time.Minute, venues) }, func(error) { scancel() })
	}

	// Each node keeps its own audit chain: nodes cannot agree on one
	// sequence through ClickHouse, which has no compare-and-set.
	chain := ""
	if a.clustered() {
		chain = a.cfg.Advertise
		if chain == "" {
			host, _ := os.Hostname()
			chain = host + "/" + a.cfg.Listen
		}
	}
	caseRule, err := caseref.New(1, a.cfg.CaseRefMax, a.cfg.CaseRefPattern)
	if err != nil {
		return err
	}
	api := &srecords.API{Search: srecords.NewSearcher(a.db, prot), Audit: audit.New(a.db, keys.Audit, chain), Log: a.log.With("part", "records-search"),
		CaseRef: caseRule, Lookups: srecords.LookupLimit{Distinct: a.cfg.LookupLimit, Window: a.cfg.LookupWindow, AlertAt: a.cfg.LookupAlert},
		Alerts: privacyAlerts{a}}
	apiMux := a.muxFor("api")
	api.Routes(apiMux, a.access)

	apiMux.Handle("GET /api/v1/intake/deliveries", access.Require(a.access, access.RoleAdmin, access.RoleLeader, access.RoleDuty, access.RoleAnalyst)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ds, err := precords.Deliveries(r.Context(), a.db, time.Now())
			if err != nil {
				log.Error("deliveries", "err", err)
				jsonapi.Error(w, http.StatusInternalServerError, "accounting unavailable")
				return
			}
			// Duty officers and leaders of one unit see that unit's venues.
			if p, ok := access.FromContext(r.Context()); ok {
				if unit, scoped := p.UnitScope(); scoped {
					vs, err := a.access.Venues(r.Context())
					if err != nil {
						log.Error("deliveries: venues", "err", err)
						jsonapi.Error(w, http.StatusInternalServerError, "accounting unavailable")
						return
					}
					mine := map[string]bool{}
					for _, v := range vs {
						mine[v.Code] = v.Unit == unit
					}
					kept := ds[:0]
					for _, d := range ds {
						if mine[d.Venue] {
							kept = append(kept, d)
						}
					}
					ds = kept
				}
			}
			jsonapi.Write(w, http.StatusOK, map[string]any{"venues": ds})
		})))
	apiMux.Handle("PUT /api/v1/venues/{code}/legal-hold", access.Require(a.access, access.RoleAdmin)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hold := r.URL.Query().Get("hold") != "false"
			if err := a.access.SetLegalHold(r.Context(), r.PathValue("code"), hold); err != nil {
				jsonapi.Error(w, http.StatusNotFound, "no such venue")
				return
			}
			vs, err := venues(r.Context())
			if err == nil {
				err = writer.SyncVenues(r.Context(), vs)
			}
			if err != nil {
				log.Error("apply legal hold", "err", err)
				jsonapi.Error(w, http.StatusAccepted, "hold recorded; applying it to stored records failed, the next sync retries")
				return
			}
			jsonapi.Write(w, http.StatusOK, map[string]any{"venue": r.PathValue("code"), "legal_hold": hold})
		})))

	apiMux.Handle("PUT /api/v1/records/holds", access.Require(a.access, access.RoleAdmin)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				IDType   string `json:"id_type"`
				IDNumber string `json:"id_number"`
				CaseRef  string `json:"case_ref"`
				Active   *bool  `json:"active"`
			}
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.IDNumber == "" || req.CaseRef == "" {
				jsonapi.Error(w, http.StatusBadRequest, "body must be {\"id_type\", \"id_number\", \"case_ref\", \"active\"}")
				return
			}
			// The hold's case reference is kept in clear like the audit's:
			// the same form applies (no identity number, no control bytes).
			if err := caseRule.Check(req.CaseRef); err != nil {
				jsonapi.Error(w, http.StatusBadRequest, "case_ref: "+err.Error())
				return
			}
			if req.IDType == "" {
				req.IDType = identity.TypeResident
			}
			active := req.Active == nil || *req.Active
			p, _ := access.FromContext(r.Context())
			if err := writer.SetCaseHold(r.Context(), prot.Hash(req.IDType, identity.Normalize(req.IDNumber)), req.CaseRef, p.Name, active); err != nil {
				log.Error("case hold", "err", err)
				jsonapi.Error(w, http.StatusInternalServerError, "case hold failed")
				return
			}
			jsonapi.Write(w, http.StatusOK, map[string]any{"case_ref": req.CaseRef, "id_number": identity.Mask(req.IDType, identity.Normalize(req.IDNumber)), "active": active})
		})))

	if a.cfg.Demo && a.cfg.hasRole("intake") {
		demoVs, err := seedIntakeDemo(ctx, a.access, func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) })
		if err != nil {
			return fmt.Errorf("intake demo: %w", err)
		}
		dctx, dcancel := context.WithCancel(ctx)
		a.group.Add(func() error { streamDemoRecords(dctx, svc, demoVs, log); return nil }, func(error) { dcancel() })
	}
	return nil
}

// intakeDemoVenue is a fictional venue of the demo district.
type intakeDemoVenue struct {
	code, kind, name string
	places           int
}

// demoDistrict is fictional-but-plausible: the demo is about one district
// of a large city, the way a station's cyber unit sees it.
const demoDistrict = "江岸区"

// demoUnit is the demo's fictional unit: its venues, its users and its
// monitoring alerts.
const demoUnit = "江岸分局网安大队"

func intakeDemoVenues() []intakeDemoVenue {
	cafeNames := []string{"星河网咖", "极速电竞馆", "蓝鲸网吧", "风云网络会所", "江滩网咖", "青柠电竞", "光谷之星网吧", "百步亭网咖",
		"二七电竞馆", "黄浦网络会所", "竹叶山网吧", "后湖电竞", "堤角网咖", "惠济网络会所", "三阳网吧", "大智网咖",
		"台北路电竞馆", "永清网吧", "塔子湖网咖", "新村网络会所"}
	hotelNames := []string{"江岸快捷酒店", "汉口江景宾馆", "百步亭商务酒店", "二七路旅馆", "黄浦大街酒店", "后湖假日宾馆",
		"大智路精品酒店", "堤角客栈", "永清街商务宾馆", "塔子湖酒店", "三阳路旅社", "江滩青年旅舍", "竹叶山宾馆", "新村快捷酒店"}
	var out []intakeDemoVenue
	for i, n := range cafeNames {
		out = append(out, intakeDemoVenue{code: fmt.Sprintf("JA-C%02d", i+1), kind: "cafe", name: n + "(演示)", places: 40 + i*5})
	}
	for i, n := range hotelNames {
		out = append(out, intakeDemoVenue{code: fmt.Sprintf("JA-H%02d", i+1), kind: "hotel", name: n + "(演示)", places: 30 + i*3})
	}
	return out
}

// intakeDemoUsers are documented in README under "Demo logins".
var intakeDemoUsers = []struct {
	name  string
	role  access.Role
	venue bool
}{
	{"admin", access.RoleAdmin, false},
	{"analyst", access.RoleAnalyst, false},
	{"duty", access.RoleDuty, false},
	{"leader", access.RoleLeader, false},
	{"auditor", access.RoleAuditor, false},
	{"operator", access.RoleOperator, true},
}

// seedIntakeDemo registers the demo venues and users (skipping those that
// exist) and returns a venue→kind map of the venues the stream may use.
func seedIntakeDemo(ctx context.Context, reg *access.Registry, logf func(string, ...any)) (map[string]intakeDemoVenue, error) {
	out := map[string]intakeDemoVenue{}
	for _, v := range intakeDemoVenues() {
		_, err := reg.AddVenue(ctx, access.Venue{Code: v.code, Kind: v.kind, Name: v.name, District: demoDistrict, Unit: demoUnit})
		if err != nil && !errors.Is(err, access.ErrExists) {
			return nil, err
		}
		out[v.code] = v
	}
	for _, u := range intakeDemoUsers {
		spec := access.UserSpec{Name: u.name, Role: u.role, Unit: demoUnit, Password: u.name + "-demo-pass"}
		if u.venue {
			spec.Venue = "JA-C01"
		}
		if _, err := reg.AddUser(ctx, spec); err != nil && !errors.Is(err, access.ErrExists) {
			return nil, err
		} else if err == nil {
			logf("demo login created: %s / %s (role %s)", spec.Name, spec.Password, spec.Role)
		}
	}
	logf("demo: %d venues in %s; logins admin, analyst, duty, leader, auditor, operator with password <name>-demo-pass", len(out), demoDistrict)
	return out, nil
}

var demoSurnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
var demoGiven = []string{"伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "华", "强", "平", "刚", "桂英", "浩然", "子涵", "雨轩", "欣怡", "宇航"}

// streamDemoRecords sends plausible sessions through the real intake path
// (validation, bus, pipeline) until ctx ends: arrivals now, and the end of
// earlier sessions as closing updates. Identity numbers are synthetic under
// the unassigned area code 420199, so none belongs to a real person.
func streamDemoRecords(ctx context.Context, svc *intake.Service, venues map[string]intakeDemoVenue, log *slog.Logger) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))
	codes := make([]string, 0, len(venues))
	for c := range venues {
		codes = append(codes, c)
	}
	type open struct {
		venue string
		row   intake.Input
		until time.Time
	}
	var sessions []open
	tick := 0
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		batches := map[string][]intake.Input{}
		// Ordinary demo traffic keeps the rules: nobody in two places,
		// no terminal or room taken twice. The violations are scripted
		// (demoViolations), so the compliance alerts are the ones meant.
		busy := map[string]bool{}
		for _, s := range sessions {
			busy[s.row.IDNumber], busy[s.venue+"/"+s.row.Place] = true, true
		}
		for _, b := range demoViolations(now, tick) {
			batches[b.venue] = append(batches[b.venue], b.row)
			if b.end.After(now) {
				sessions = append(sessions, open{venue: b.venue, row: b.row, until: b.end})
			}
		}
		tick++
		for i := 0; i < 1+rng.IntN(4); i++ {
			code := codes[rng.IntN(len(codes))]
			v := venues[code]
			person := rng.IntN(5000)
			in := intake.Input{Kind: v.kind, IDType: identity.TypeResident, IDNumber: identity.Synthetic("420199", person),
				Name:      string(demoSurnames[person%len(demoSurnames)]) + demoGiven[(person/7)%len(demoGiven)],
				StartedAt: now.Add(-time.Duration(rng.IntN(60)) * time.Second).Format(time.RFC3339)}
			if v.kind == "cafe" {
				in.Place = fmt.Sprintf("A%03d", 1+rng.IntN(v.places))
				in.IP = fmt.Sprintf("10.%d.%d.%d", 20+len(code)%5, rng.IntN(4), 2+rng.IntN(250))
				in.MAC = fmt.Sprintf("52:54:00:%02x:%02x:%02x", rng.IntN(256), rng.IntN(256), rng.IntN(256))
			} else {
				in.Place = fmt.Sprintf("%d%02d", 2+rng.IntN(8), 1+rng.IntN(20))
				in.PartySize = fmt.Sprint(1 + rng.IntN(3))
			}
			if busy[in.IDNumber] || busy[code+"/"+in.Place] {
				continue
			}
			busy[in.IDNumber], busy[code+"/"+in.Place] = true, true
			batches[code] = append(batches[code], in)
			if len(sessions) < 2000 {
				sessions = append(sessions, open{venue: code, row: in, until: now.Add(time.Duration(30+rng.IntN(600)) * time.Second)})
			}
		}
		kept := sessions[:0]
		for _, s := range sessions {
			if now.After(s.until) {
				s.row.EndedAt = s.until.Format(time.RFC3339)
				batches[s.venue] = append(batches[s.venue], s.row)
			} else {
				kept = append(kept, s)
			}
		}
		sessions = kept
		for code, rows := range batches {
			var b strings.Builder
			b.WriteString("[")
			for i, r := range rows {
				if i > 0 {
					b.WriteString(",")
				}
				j, _ := json.Marshal(r)
				b.Write(j)
			}
			b.WriteString("]")
			if _, _, err := svc.Submit(ctx, code, "", "application/json", []byte(b.String())); err != nil && ctx.Err() == nil {
				log.Warn("demo records not accepted; will send new ones", "venue", code, "err", err)
			}
		}
	}
}

// demoScripted is one scripted demo session.
type demoScripted struct {
	venue string
	row   intake.Input
	end   time.Time
}

// Demo venues of the scripted violations.
const (
	demoMinorCafe  = "JA-C03" // admits a minor now and then
	demoSharedCafe = "JA-C05" // a card in use here is lent to a user at JA-C08
	demoLentCafe   = "JA-C08"
)

// demoViolations are the compliance breaches the demo stages, by tick (2 s
// each): a minor at 蓝鲸网吧 every 3 minutes from 20 s in, and every 4
// minutes from 40 s in one card in use at two cafés at once. With the
// default 3-minute grace the shared card shows within about 3.5 minutes.
// The people are synthetic (area 420199, sequence 99x) and outside the
// ordinary traffic's range.
func demoViolations(now time.Time, tick int) []demoScripted {
	var out []demoScripted
	start := now.Add(-5 * time.Second).Format(time.RFC3339)
	if tick%90 == 10 {
		n := tick / 90
		birth := time.Date(now.Year()-16, 1+time.Month(n%12), 1+n%27, 0, 0, 0, 0, time.UTC)
		out = append(out, demoScripted{venue: demoMinorCafe, end: now.Add(20 * time.Minute), row: intake.Input{Kind: "cafe",
			Place: fmt.Sprintf("M%02d", 1+n%20), IDType: identity.TypeResident, IDNumber: identity.SyntheticBorn("420199", birth, n),
			Name: "演示未成年" + fmt.Sprint(n%10), StartedAt: start}})
	}
	if tick%120 == 20 {
		n := tick / 120
		card := identity.Synthetic("420199", 90000+n)
		for i, v := range []string{demoSharedCafe, demoLentCafe} {
			out = append(out, demoScripted{venue: v, end: now.Add(30 * time.Minute), row: intake.Input{Kind: "cafe",
				Place: fmt.Sprintf("S%02d", 1+(n+i)%20), IDType: identity.TypeResident, IDNumber: card,
				Name: "演示借证", StartedAt: start}})
		}
	}
	return out
}
