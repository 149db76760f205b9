package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/access"
)

func newTestHandler(t testing.TB) http.Handler {
	t.Helper()
	h, err := NewHandler(Options{DB: testDB, Users: testRegistry, Config: testConfig(), Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get requests target as a district-wide caller of role.
func get(t testing.TB, h http.Handler, role access.Role, target string) *httptest.ResponseRecorder {
	return getAs(t, h, role, access.DistrictWide, target)
}

func getAs(t testing.TB, h http.Handler, role access.Role, unit, target string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if role != "" {
		req = req.WithContext(access.WithPrincipal(req.Context(), access.Principal{Kind: "user", Name: "lead", Role: role, Unit: unit}))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestUnitLeaderReadsOwnUnit: a leader of one unit gets that unit's
// report, is refused another unit's, and a leader without a unit is refused.
func TestUnitLeaderReadsOwnUnit(t *testing.T) {
	h := newTestHandler(t)
	own, other := "%E5%9F%8E%E5%85%B3%E6%B4%BE%E5%87%BA%E6%89%80", "%E4%B8%9C%E6%B9%96%E6%B4%BE%E5%87%BA%E6%89%80"
	for _, c := range []struct {
		unit, target string
		want         int
	}{
		{"城关派出所", "/api/v1/reports?period=2026-W47", 200},
		{"城关派出所", "/api/v1/reports?period=2026-W47&unit=" + own, 200},
		{"城关派出所", "/api/v1/reports?period=2026-W47&unit=" + other, 403},
		{"城关派出所", "/reports/2026-W47.csv?unit=" + other, 403},
		{"", "/api/v1/reports?period=2026-W47", 403},
	} {
		rec := getAs(t, h, access.RoleLeader, c.unit, c.target)
		if rec.Code != c.want {
			t.Errorf("leader of %q GET %s = %d, want %d", c.unit, c.target, rec.Code, c.want)
		}
		if c.want == 200 && !strings.Contains(rec.Body.String(), "城关派出所") {
			t.Errorf("leader of %q GET %s: report is not of their unit", c.unit, c.target)
		}
	}
}

func TestHandlerStatus(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name   string
		role   access.Role
		target string
		want   int
		ctype  string
	}{
		{"page", access.RoleLeader, "/reports/?period=2026-W47", 200, "text/html"},
		{"default period", access.RoleLeader, "/reports/", 200, "text/html"},
		{"month", access.RoleLeader, "/reports/?period=2026-11&unit=" + "%E5%9F%8E%E5%85%B3%E6%B4%BE%E5%87%BA%E6%89%80", 200, "text/html"},
		{"csv", access.RoleLeader, "/reports/2026-W47.csv", 200, "text/csv"},
		{"pdf", access.RoleLeader, "/reports/2026-W47.pdf?unit=%E4%B8%9C%E6%B9%96%E6%B4%BE%E5%87%BA%E6%89%80", 200, "application/pdf"},
		{"json", access.RoleLeader, "/api/v1/reports?period=2026-W47", 200, "application/json"},
		{"script", access.RoleLeader, "/reports/assets/report.js", 200, "text/javascript"},
		{"no principal", "", "/reports/", 403, ""},
		{"analyst", access.RoleAnalyst, "/api/v1/reports", 403, ""},
		{"bad period", access.RoleLeader, "/reports/2026-W60.pdf", 400, ""},
		{"bad extension", access.RoleLeader, "/reports/2026-W47.xlsx", 404, ""},
		{"template not served", access.RoleLeader, "/reports/assets/report.html", 404, ""},
		{"unknown unit", access.RoleLeader, "/api/v1/reports?unit=x", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.role, tt.target)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
			}
			if tt.ctype != "" && !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.ctype) {
				t.Errorf("content type = %q, want %s", rec.Header().Get("Content-Type"), tt.ctype)
			}
		})
	}
}

func TestHTMLPage(t *testing.T) {
	rec := get(t, newTestHandler(t), access.RoleLeader, "/reports/?period=2026-W47")
	body := rec.Body.String()
	for _, want := range []string{
		"工作绩效报告 · 全区 · 周报 2026-W47",
		`<tr data-key="coverage"><td>场所覆盖率</td><td class="num">66.7%</td><td class="num">50.0%</td><td class="num">&#43;16.7 个百分点</td>`,
		"本期有数据上传的已登记场所数 ÷ 已登记场所数（未注销） = 4 / 6",
		"超过 2.0 天", // the silence threshold in its formula
		"critical 15.0 分钟, warning 1.0 小时", // the SLA in its formula
		`id="chart-daily"`, `<script src="/reports/assets/report.js" defer>`, `id="report-data"`,
		`href="/reports/2026-W47.pdf"`, `href="/reports/?period=2026-W46"`, `href="/reports/?period=2026-W48"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The chart data block must be JSON that the script can parse.
	i := strings.Index(body, `id="report-data">`)
	j := strings.Index(body[i:], "</script>")
	var data chartData
	if err := json.Unmarshal([]byte(body[i+len(`id="report-data">`):i+j]), &data); err != nil {
		t.Fatalf("chart data: %v", err)
	}
	if len(data.Daily) != 7 || len(data.Ranking) != 3 {
		t.Errorf("chart data = %+v", data)
	}
	// A unit name is text, never markup.
	if strings.Contains(body, "<script>alert") {
		t.Error("unescaped unit name")
	}
	en := get(t, newTestHandler(t), access.RoleLeader, "/reports/?period=2026-W47&lang=en").Body.String()
	if !strings.Contains(en, "Coverage rate") || !strings.Contains(en, "Whole district") {
		t.Error("English page lacks its labels")
	}
}

func TestCSVIsInjectionSafe(t *testing.T) {
	rec := get(t, newTestHandler(t), access.RoleLeader, "/reports/2026-W47.csv")
	raw := rec.Body.Bytes()
	if !bytes.HasPrefix(raw, []byte("\uFEFF")) {
		t.Error("no UTF-8 byte-order mark")
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\uFEFF"))))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var sawUnit, sawCase, sawCoverage bool
	for _, row := range rows {
		for _, cell := range row {
			if csvUnsafe(cell) && !isNumber(cell) {
				t.Errorf("cell %q would run as a formula", cell)
			}
			sawUnit = sawUnit || cell == "'=cmd|' /C calc'!A0"
			sawCase = sawCase || cell == "'+案-2026-002"
		}
		if len(row) > 3 && row[0] == "coverage" && row[2] == "0.6666666666666666" && row[3] == "0.5" {
			sawCoverage = true
		}
	}
	if !sawUnit || !sawCase || !sawCoverage {
		t.Errorf("defused unit %v, defused case %v, coverage row %v", sawUnit, sawCase, sawCoverage)
	}
}

func isNumber(s string) bool {
	_, err := json.Number(s).Float64()
	return err == nil
}

func TestSafeCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"城关派出所", "城关派出所"},
		{"=1+1", "'=1+1"},
		{"+86", "'+86"},
		{"-2", "'-2"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"＝1＋1", "'＝1＋1"},
		{"", ""},
		{"a=1", "a=1"},
	}
	for _, tt := range tests {
		if got := safeCell(tt.in); got != tt.want {
			t.Errorf("safeCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPDF checks the printable report: a real PDF with pages, the Chinese
// text extractable (so the font is embedded with a Unicode map), and the
// font embedded. It reads the PDF with poppler's pdftotext and pdffonts.
func TestPDF(t *testing.T) {
	for _, tool := range []string{"pdftotext", "pdfinfo", "pdffonts"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: apt-get install poppler-utils", tool)
		}
	}
	rec := get(t, newTestHandler(t), access.RoleLeader, "/reports/2026-W47.pdf")
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, "2026-W47.pdf") {
		t.Errorf("Content-Disposition = %q", cd)
	}
	file := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(file, rec.Body.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("REPORT_ARTIFACTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, "report-2026-W47.pdf"), rec.Body.Bytes(), 0o644)
	}
	info, err := exec.Command("pdfinfo", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, info)
	}
	if !strings.Contains(string(info), "Pages:") || strings.Contains(string(info), "Pages:          0") {
		t.Errorf("pdfinfo: %s", info)
	}
	text, err := exec.Command("pdftotext", "-layout", file, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"工作绩效报告", "全区", "场所覆盖率", "66.7%", "城关派出所", "单位排名", "拒收原因", "案-2026-001"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	fonts, err := exec.Command("pdffonts", file).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(fonts)), "\n")
	if len(lines) < 3 {
		t.Fatalf("pdffonts: %s", fonts)
	}
	for _, l := range lines[2:] {
		if f := strings.Fields(l); len(f) < 5 || !strings.Contains(l, " yes ") {
			t.Errorf("font not embedded: %s", l)
		}
	}
}

func TestJSON(t *testing.T) {
	rec := get(t, newTestHandler(t), access.RoleLeader, "/api/v1/reports?period=2026-W47&unit=%E5%9F%8E%E5%85%B3%E6%B4%BE%E5%87%BA%E6%89%80")
	var r Report
	if err := json.NewDecoder(io.LimitReader(rec.Body, 1<<20)).Decode(&r); err != nil {
		t.Fatal(err)
	}
	f, _ := r.Figure("coverage")
	if r.Unit != "城关派出所" || f.Value == nil || *f.Value != 1 || len(r.Figures) != len(FigureKeys()) {
		t.Errorf("report = %+v", r)
	}
}

func BenchmarkBuild(b *testing.B) {
	bld := NewBuilder(testDB, testRegistry, testConfig(), nil)
	for b.Loop() {
		if _, err := bld.Build(b.Context(), Week(2026, 47), "", fixedNow); err != nil {
			b.Fatal(err)
		}
	}
}

// TestJunkInTheAuditLog: an entry written before case references had a
// form holds a 100,000-character case reference (it once made the weekly
// PDF take 52 s). The report reads it cut to 64 characters, so its size
// and time never depend on the junk. The entry sits in 2026-W40, which no
// other test reads.
func TestJunkInTheAuditLog(t *testing.T) {
	ctx := context.Background()
	junk := strings.Repeat("案", 100000)
	if err := testDB.Insert(ctx, "netpulse.audit_log", []map[string]any{{"chain": "junk", "seq": 1,
		"at": "2026-09-30T10:00:00+08:00", "actor": "user:analyst1", "role": "analyst", "action": "search",
		"case_ref": junk, "rows": 0, "outcome": "refused"}}); err != nil {
		t.Fatal(err)
	}
	r, err := NewBuilder(testDB, testRegistry, testConfig(), nil).Build(ctx, Week(2026, 40), "", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) != 1 || len([]rune(r.Cases[0].CaseRef)) > 64 {
		t.Fatalf("cases = %d, first %d characters", len(r.Cases), len([]rune(r.Cases[0].CaseRef)))
	}
	rec := get(t, newTestHandler(t), access.RoleLeader, "/reports/2026-W40.pdf")
	if rec.Code != 200 || rec.Body.Len() > 1<<20 {
		t.Errorf("PDF: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}
