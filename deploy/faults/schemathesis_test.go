package faults

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSchemathesis fuzzes every operation of docs/openapi.yaml against a
// live serve --demo with deploy/dev/schemathesis.sh (schemathesis from
// PyPI): no 5xx and no answer outside the document. The log of the whole
// demo run is then checked for identity numbers and secrets.
func TestSchemathesis(t *testing.T) {
	data := t.TempDir()
	venue := registerVenues(t, data, "ST-", 1)[0]
	tokens := map[string]string{}
	for _, r := range []string{"admin", "analyst", "auditor", "duty", "leader"} {
		tokens[r] = addUser(t, data, "st-"+r, r)
	}
	s := startServer(t, data, "--demo")
	// Let the demo stream, crawl and alert for a while first, so that the
	// fuzzed reads meet real data.
	time.Sleep(5 * time.Second)
	examples := "15"
	if long() {
		examples = "100"
	}
	cmd := exec.Command(filepath.Join(moduleRoot(), "deploy", "dev", "schemathesis.sh"), s.base)
	cmd.Dir = t.TempDir() // schemathesis writes its cache in the working folder
	cmd.Env = append(os.Environ(), "NP_VENUE_KEY="+venue.key, "NP_ADMIN="+tokens["admin"], "NP_ANALYST="+tokens["analyst"],
		"NP_AUDITOR="+tokens["auditor"], "NP_DUTY="+tokens["duty"], "NP_LEADER="+tokens["leader"], "MAX_EXAMPLES="+examples)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		t.Fatalf("schemathesis could not be installed from PyPI (pip needs network access to pypi.org):\n%s", tail(string(out), 2000))
	}
	if err != nil {
		t.Errorf("schemathesis found problems (%v):\n%s", err, tail(string(out), 12000))
	} else {
		t.Logf("schemathesis: every operation passed\n%s", summary(string(out)))
	}
	if !s.alive() {
		t.Fatalf("serve died under schemathesis:\n%s", tail(s.logText(), 3000))
	}
	s.stop()
	// The demo streams records of synthetic people 420199…, n < 5000.
	numbers := make([]string, 0, 5000)
	for n := 0; n < 5000; n++ {
		numbers = append(numbers, syntheticID(n))
	}
	secrets := map[string]string{"venue key": venue.key}
	for r, tok := range tokens {
		secrets[r+" token"] = tok
	}
	checkLogClean(t, s.logText(), secrets, numbers)
}

func summary(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "== ") || strings.Contains(l, "passed") || strings.Contains(l, "Tested:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
