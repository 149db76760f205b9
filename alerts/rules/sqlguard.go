package rules

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/netpulse/netpulse/pipeline/store"
)

// Threshold rules run SQL an admin wrote. A text filter cannot tell a
// table function hidden behind a comment ("file /**/ (") from a column, so
// the SQL is judged on ClickHouse's own parse of it: formatQuerySingleLine
// proves it is one statement and gives its canonical text, EXPLAIN AST of
// that text gives the tree, and the tree must be a SELECT (or a UNION,
// INTERSECT or EXCEPT of SELECTs) that reads only the tables below and
// calls only the functions below. The canonical text is what runs, under
// ClickHouse's read-only and resource settings (ruleLimits).

// ruleTables are the tables and views rule SQL may read: counts, crawl and
// delivery tallies, public posts and alert history. None holds a guest's
// name or identity, a quarantined row, or the audit log.
var ruleTables = map[string]bool{
	"term_counts":       true,
	"term_mentions":     true,
	"term_first_seen":   true,
	"term_scores":       true,
	"posts":             true,
	"alert_posts":       true,
	"crawl_runs":        true,
	"alerts":            true,
	"record_deliveries": true, // venue, kind, minute, batch, count: no guest columns
}

// ruleLimits bound one evaluation. A threshold rule answers one number.
// They are a second wall, not the first: ClickHouse lets a SETTINGS clause
// inside a subquery override readonly for that subquery, which is why the
// tree check refuses every SETTINGS clause.
var ruleLimits = store.Limits{
	Timeout:    10 * time.Second,
	MaxRows:    1000,
	MaxMemory:  256 << 20,
	MaxRead:    200_000_000,
	MaxThreads: 2,
}

// maxRuleSQL bounds the SQL text and maxASTNodes the tree.
const (
	maxRuleSQL  = 16 << 10
	maxASTNodes = 4000
)

// ruleFunctions are the functions rule SQL may call (lower case; ClickHouse
// spells operators as functions: plus, equals, and, in…). Everything else,
// file, url, s3, remote, decrypt, dictGet, joinGet, getSetting among them,
// is refused by not being here.
var ruleFunctions = func() map[string]bool {
	m := map[string]bool{}
	aggregates := []string{"count", "sum", "avg", "min", "max", "any", "anylast", "argmin", "argmax",
		"uniq", "uniqexact", "uniqcombined", "median", "quantile", "quantiles", "quantileexact",
		"quantiletdigest", "stddevpop", "stddevsamp", "varpop", "varsamp", "sumwithoverflow"}
	for _, a := range aggregates {
		for _, suffix := range []string{"", "if", "merge", "mergestate", "state", "ornull", "ordefault", "distinct"} {
			m[a+suffix] = true
		}
	}
	for _, f := range strings.Fields(`
		plus minus multiply divide intdiv intdivorzero modulo moduloorzero negate abs round floor ceil
		trunc greatest least sqrt exp log log2 log10 pow power sign
		equals notequals less greater lessorequals greaterorequals and or not xor if multiif
		isnull isnotnull coalesce ifnull nullif assumenotnull tonullable
		in notin globalin globalnotin nullin notnullin exists tuple array arrayelement tupleelement
		has length empty notempty range
		now now64 today yesterday todate todate32 todatetime todatetime64 tostartofminute
		tostartoffiveminutes tostartoffiveminute tostartoftenminutes tostartoffifteenminutes
		tostartofhour tostartofday tostartofweek tostartofmonth tostartofquarter tostartofyear
		tostartofinterval tointervalsecond tointervalminute tointervalhour tointervalday
		tointervalweek tointervalmonth tointervalquarter tointervalyear toyyyymm toyyyymmdd
		toyear tomonth todayofmonth todayofweek tohour tominute tosecond tounixtimestamp
		fromunixtimestamp datediff date_diff age dateadd date_add datesub date_sub
		addseconds addminutes addhours adddays addweeks addmonths subtractseconds
		subtractminutes subtracthours subtractdays subtractweeks subtractmonths timeslot
		lower upper lowerutf8 upperutf8 lengthutf8 concat substring substringutf8 position
		positionutf8 positioncaseinsensitive positioncaseinsensitiveutf8 like notlike ilike
		notilike startswith endswith trim trimleft trimright trimboth replaceall replaceone
		splitbychar match
		tostring touint8 touint16 touint32 touint64 toint8 toint16 toint32 toint64 tofloat32
		tofloat64 todecimal64 cast _cast touint64ornull tofloat64ornull tointervalmillisecond
		row_number rank dense_rank lagInFrame leadInFrame`) {
		m[strings.ToLower(f)] = true
	}
	return m
}()

// inFunctions take a set as their second argument; a bare name there is a
// table, so it must be a subquery or a literal instead.
var inFunctions = map[string]bool{"in": true, "notin": true, "globalin": true, "globalnotin": true,
	"nullin": true, "notnullin": true, "globalnullin": true, "globalnotnullin": true}

// astKinds are the node kinds a rule's tree may hold. Anything else (Set
// for SETTINGS, an INTO OUTFILE literal at the top, kinds added by later
// ClickHouse versions) is refused until someone adds it here on purpose.
var astKinds = map[string]bool{
	"SelectWithUnionQuery": true, "SelectIntersectExceptQuery": true, "SelectQuery": true,
	"ExpressionList": true, "TablesInSelectQuery": true, "TablesInSelectQueryElement": true,
	"TableExpression": true, "TableIdentifier": true, "TableJoin": true, "ArrayJoin": true,
	"Subquery": true, "Function": true, "Identifier": true, "Literal": true, "Asterisk": true,
	"QualifiedAsterisk": true, "ColumnsRegexpMatcher": true, "ColumnsListMatcher": true,
	"QualifiedColumnsRegexpMatcher": true, "QualifiedColumnsListMatcher": true,
	"ColumnsTransformerList": true, "ColumnsExceptTransformer": true, "OrderByElement": true,
	"WithElement": true, "WindowDefinition": true, "WindowListElement": true, "SampleRatio": true,
}

// astNode is one line of EXPLAIN AST: "Function count (alias value) (children 1)".
type astNode struct {
	kind string
	name string // the rest of the line without alias and children count
	kids []*astNode
}

var (
	astChildrenRE = regexp.MustCompile(` \(children \d+\)$`)
	astAliasRE    = regexp.MustCompile(` \(alias .*\)$`)
	plainNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// parseAST reads EXPLAIN AST output, one node per line, depth by leading
// spaces.
func parseAST(lines []string) (*astNode, error) {
	if len(lines) == 0 {
		return nil, errors.New("empty syntax tree")
	}
	if len(lines) > maxASTNodes {
		return nil, fmt.Errorf("more than %d syntax nodes", maxASTNodes)
	}
	var stack []*astNode // stack[d] is the open node at depth d
	var root *astNode
	for i, l := range lines {
		depth := len(l) - len(strings.TrimLeft(l, " "))
		text := astAliasRE.ReplaceAllString(astChildrenRE.ReplaceAllString(strings.TrimSpace(l), ""), "")
		kind, name, _ := strings.Cut(text, " ")
		n := &astNode{kind: kind, name: name}
		switch {
		case i == 0 && depth == 0:
			root = n
		case depth == 0 || depth > len(stack):
			return nil, fmt.Errorf("syntax tree line %d is not nested where expected", i+1)
		default:
			parent := stack[depth-1]
			parent.kids = append(parent.kids, n)
		}
		stack = append(stack[:depth], n)
	}
	return root, nil
}

// checkAST walks the tree and returns the first thing a rule may not do.
func checkAST(root *astNode) error {
	if root.kind != "SelectWithUnionQuery" {
		return fmt.Errorf("must be a SELECT, not %s", root.kind)
	}
	return walkAST(root)
}

func walkAST(n *astNode) error {
	if n.kind == "Set" {
		return errors.New("may not carry a SETTINGS clause: rules run with fixed read-only limits")
	}
	if !astKinds[n.kind] {
		return fmt.Errorf("may not use %s", n.kind)
	}
	switch n.kind {
	case "SelectWithUnionQuery":
		// One child, the list of SELECTs; INTO OUTFILE and FORMAT add more.
		if len(n.kids) != 1 || n.kids[0].kind != "ExpressionList" {
			return errors.New("may not use INTO OUTFILE or FORMAT")
		}
	case "TableExpression":
		for _, k := range n.kids {
			if k.kind == "Function" {
				return fmt.Errorf("may not use the table function %s (no table functions)", k.name)
			}
		}
	case "TableIdentifier":
		if !ruleTable(n.name) {
			return fmt.Errorf("may not read %s (rules may read netpulse.%s)", n.name, strings.Join(sortedKeys(ruleTables), ", netpulse."))
		}
	case "Function":
		fn := strings.ToLower(n.name)
		if !plainNameRE.MatchString(n.name) || !ruleFunctions[fn] {
			return fmt.Errorf("may not call %s", n.name)
		}
		if inFunctions[fn] && len(n.kids) > 0 && len(n.kids[0].kids) > 1 && n.kids[0].kids[1].kind == "Identifier" {
			return fmt.Errorf("%s needs a list or a subquery, not the table %s", n.name, n.kids[0].kids[1].name)
		}
	}
	for _, k := range n.kids {
		if err := walkAST(k); err != nil {
			return err
		}
	}
	return nil
}

// ruleTable reports whether name, as EXPLAIN AST prints it, is an allowed
// table: netpulse.X, or a bare X, which resolves in the current database
// or to a WITH subquery that is itself checked.
func ruleTable(name string) bool {
	if t, ok := strings.CutPrefix(name, "netpulse."); ok {
		return ruleTables[t]
	}
	return ruleTables[name]
}

// vetSQL asks the store's ClickHouse parser about sql and returns the
// canonical text to run, or why it may not run.
func vetSQL(ctx context.Context, db *store.DB, sql string) (string, error) {
	if strings.TrimSpace(sql) == "" {
		return "", errors.New("missing")
	}
	if len(sql) > maxRuleSQL {
		return "", fmt.Errorf("longer than %d bytes", maxRuleSQL)
	}
	// formatQuerySingleLine parses its argument without running it and
	// refuses more than one statement; the bound literal cannot escape.
	var canon []struct {
		Q string `json:"q"`
	}
	if err := db.Select(ctx, &canon, `SELECT formatQuerySingleLine(?) AS q`, sql); err != nil {
		return "", fmt.Errorf("does not parse as one ClickHouse statement: %s", clickhouseMessage(err))
	}
	if len(canon) != 1 {
		return "", errors.New("does not parse as one ClickHouse statement")
	}
	q := canon[0].Q
	if up := strings.ToUpper(q); !strings.HasPrefix(up, "SELECT ") && !strings.HasPrefix(up, "WITH ") && !strings.HasPrefix(up, "(") {
		return "", errors.New("must be a SELECT")
	}
	var tree []struct {
		Explain string `json:"explain"`
	}
	// EXPLAIN AST only parses; q is one statement, as proved above.
	if err := db.Select(ctx, &tree, "SELECT explain FROM (EXPLAIN AST "+q+")"); err != nil {
		return "", fmt.Errorf("does not parse: %s", clickhouseMessage(err))
	}
	lines := make([]string, len(tree))
	for i, t := range tree {
		lines[i] = t.Explain
	}
	root, err := parseAST(lines)
	if err != nil {
		return "", err
	}
	if err := checkAST(root); err != nil {
		return "", err
	}
	return q, nil
}

// clickhouseMessage keeps the engine's own words ("Syntax error: …") and
// drops the statement the store wraps around them.
func clickhouseMessage(err error) string {
	s := err.Error()
	if i := strings.Index(s, "DB::Exception: "); i >= 0 {
		s = s[i+len("DB::Exception: "):]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
