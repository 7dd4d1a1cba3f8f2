package check

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// WriteText writes the readable report: per page and mode, the pushes,
// the Klaviyo requests and the problems, then the explanation and the
// guide's example of each rule that failed.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	failed := map[string]bool{}
	for _, res := range r.Results {
		status := "ok"
		if len(res.Problems) > 0 {
			status = fmt.Sprintf("%d problem(s)", len(res.Problems))
		}
		fmt.Fprintf(&b, "%s  [klaviyo.js %s]  %s\n", res.URL, res.Mode, status)
		fmt.Fprintf(&b, "  pushes (%d):\n", len(res.Pushes))
		for _, p := range res.Pushes {
			fmt.Fprintf(&b, "    step %d  %-16s %s\n", p.Step, p.Via, clip(string(p.Call), 110))
		}
		if len(res.Requests) > 0 {
			fmt.Fprintf(&b, "  requests to Klaviyo (%d):\n", len(res.Requests))
			for _, q := range res.Requests {
				fmt.Fprintf(&b, "    step %d  %-8s %s %s\n", q.Step, q.Outcome, q.Method, clip(q.URL, 100))
			}
		}
		if len(res.Problems) > 0 {
			fmt.Fprintf(&b, "  problems (%d):\n", len(res.Problems))
			for _, p := range res.Problems {
				failed[p.Rule] = true
				fmt.Fprintf(&b, "    step %d  %s\n", p.Step, p)
			}
		}
		if res.Screenshot != "" {
			fmt.Fprintf(&b, "  screenshot: %s\n", res.Screenshot)
		}
		b.WriteString("\n")
	}
	if len(failed) > 0 {
		b.WriteString("Rules that failed:\n")
		for _, rule := range Rules {
			if failed[rule.ID] {
				fmt.Fprintf(&b, "  %s: %s\n    guide: %s\n", rule.ID, rule.Why, rule.Example)
			}
		}
	}
	n := len(r.Problems())
	fmt.Fprintf(&b, "%d page run(s), %d problem(s)\n", len(r.Results), n)
	_, err := io.WriteString(w, b.String())
	return err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// WriteJSON writes the report as JSON: {"results": [...], "rules": [...]}
// with the rules that failed.
func (r *Report) WriteJSON(w io.Writer) error {
	var rules []Rule
	for _, rule := range Rules {
		for _, p := range r.Problems() {
			if p.Rule == rule.ID {
				rules = append(rules, rule)
				break
			}
		}
	}
	if rules == nil {
		rules = []Rule{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Results []*Result `json:"results"`
		Rules   []Rule    `json:"rules"`
	}{r.Results, rules})
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML for CI systems: a test suite
// per page and mode, a test case per rule, failed when the rule found a
// problem.
func (r *Report) WriteJUnit(w io.Writer) error {
	all := junitSuites{Name: "snippetd check"}
	for _, res := range r.Results {
		s := junitSuite{Name: res.URL + " (klaviyo.js " + string(res.Mode) + ")"}
		for _, rule := range Rules {
			c := junitCase{Name: rule.ID, ClassName: s.Name}
			var lines []string
			for _, p := range res.Problems {
				if p.Rule == rule.ID {
					lines = append(lines, fmt.Sprintf("step %d %s: %s", p.Step, p.URL, p))
				}
			}
			if len(lines) > 0 {
				c.Failure = &junitFailure{Message: fmt.Sprintf("%d problem(s)", len(lines)), Type: rule.ID,
					Text: strings.Join(lines, "\n") + "\n\n" + rule.Why + "\nguide: " + rule.Example}
				s.Failures++
			}
			s.Tests++
			s.Cases = append(s.Cases, c)
		}
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Suites = append(all.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
