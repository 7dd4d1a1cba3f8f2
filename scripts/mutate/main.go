// Command mutate is an on-demand mutation check: it applies one-line
// mutations of the core packages one at a time, runs the mutated package's
// tests, restores the file and reports which mutations the tests caught
// ("killed") and which they did not ("survived"), with the kill rate.
//
// Run it from the repository root (it is not part of make test):
//
//	go run ./scripts/mutate                      # every mutation in mutations.txt
//	go run ./scripts/mutate -match money         # only those whose file or name contains "money"
//	go run ./scripts/mutate -timeout 3m -v       # show the test output of survivors
//	go run ./scripts/mutate -check               # only check every mutation still applies (fast)
//
// Each mutation names a file, the text of one line as it is now and the
// text that replaces it. Lines are matched by their trimmed text, not by
// number, so the list survives edits elsewhere in the file; a line that is
// missing or not unique fails the run loudly, because a mutation that no
// longer applies would otherwise look like a caught one. A mutation that
// does not compile is reported as invalid, not as killed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mutation is one line change.
type Mutation struct {
	Name string // what the mutation breaks, shown in the report
	File string // path from the repository root
	From string // the line as it is (trimmed)
	To   string // its replacement (indentation is kept)
	Run  string // optional -run pattern to restrict the tests
	Skip string // optional -skip pattern (tests known to fail for other reasons)
	Args string // optional arguments for the test binary (after -args), space-separated
	Nth  int    // which occurrence of From, when it is not unique (1-based)
	Line int    // line in the list file, for messages
}

func main() {
	list := flag.String("list", "scripts/mutate/mutations.txt", "mutation list")
	match := flag.String("match", "", "only mutations whose name or file contains this text")
	timeout := flag.Duration("timeout", 5*time.Minute, "timeout of one package's test run")
	verbose := flag.Bool("v", false, "print the test output of survivors and invalid mutations")
	baseline := flag.Bool("baseline", true, "first check that the unmutated packages pass")
	from := flag.Int("from", 1, "start at this mutation of the selection (1-based), to resume a run")
	check := flag.Bool("check", false, "only check that every selected mutation's line is found, then exit")
	flag.Parse()

	ms, err := parseList(*list)
	if err != nil {
		fail(err)
	}
	var sel []Mutation
	for _, m := range ms {
		if *match == "" || strings.Contains(m.Name, *match) || strings.Contains(m.File, *match) {
			sel = append(sel, m)
		}
	}
	if *from > 1 {
		sel = sel[min(*from-1, len(sel)):]
	}
	if len(sel) == 0 {
		fail(errors.New("no mutation selected"))
	}
	// Check every mutation applies before running anything, and report
	// every one that does not, so a stale list is fixed in one pass.
	var stale int
	for _, m := range sel {
		src, err := os.ReadFile(m.File)
		if err == nil {
			_, err = apply(src, m)
		}
		if err != nil {
			stale++
			fmt.Fprintf(os.Stderr, "%s:%d: %v\n", *list, m.Line, err)
		}
	}
	if stale > 0 {
		fail(fmt.Errorf("%d of %d mutations do not apply", stale, len(sel)))
	}
	if *check {
		fmt.Printf("all %d mutations apply\n", len(sel))
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if *baseline {
		seen := map[string]bool{}
		for _, m := range sel {
			pkg := pkgOf(m.File)
			if seen[pkg] {
				continue
			}
			seen[pkg] = true
			fmt.Printf("baseline %s ... ", pkg)
			res, out := runTests(ctx, pkg, "", m.Skip, "", *timeout)
			fmt.Println(res)
			if res != "pass" {
				os.Stdout.Write(out)
				fail(fmt.Errorf("the unmutated tests of %s do not pass; fix them first", pkg))
			}
		}
	}

	var killed, survived, invalid []Mutation
	for i, m := range sel {
		fmt.Printf("[%d/%d] %s (%s) ... ", i+1, len(sel), m.Name, m.File)
		res, out, err := try(ctx, m, *timeout)
		if err != nil {
			fail(err)
		}
		fmt.Println(res)
		switch res {
		case "killed":
			killed = append(killed, m)
		case "survived":
			survived = append(survived, m)
		default:
			invalid = append(invalid, m)
		}
		if *verbose && res != "killed" {
			os.Stdout.Write(out)
		}
		if ctx.Err() != nil {
			fail(errors.New("interrupted (the file was restored)"))
		}
	}

	fmt.Printf("\nkilled %d, survived %d, invalid %d\n", len(killed), len(survived), len(invalid))
	for _, m := range survived {
		fmt.Printf("SURVIVED  %s: %s: %q -> %q\n", m.Name, m.File, m.From, m.To)
	}
	for _, m := range invalid {
		fmt.Printf("INVALID   %s: %s: %q -> %q (does not compile or vet; fix the list)\n", m.Name, m.File, m.From, m.To)
	}
	if n := len(killed) + len(survived); n > 0 {
		fmt.Printf("kill rate %.1f%% (%d/%d)\n", 100*float64(len(killed))/float64(n), len(killed), n)
	}
	if len(survived) > 0 || len(invalid) > 0 {
		os.Exit(1)
	}
}

// try applies m, runs its package's tests and restores the file whatever
// happens.
func try(ctx context.Context, m Mutation, timeout time.Duration) (string, []byte, error) {
	info, err := os.Stat(m.File)
	if err != nil {
		return "", nil, err
	}
	orig, err := os.ReadFile(m.File)
	if err != nil {
		return "", nil, err
	}
	mut, err := apply(orig, m)
	if err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(m.File, mut, info.Mode()); err != nil {
		return "", nil, err
	}
	defer func() {
		if err := os.WriteFile(m.File, orig, info.Mode()); err != nil {
			fmt.Fprintf(os.Stderr, "mutate: RESTORE FAILED for %s: %v (run git checkout -- %s)\n", m.File, err, m.File)
			os.Exit(2)
		}
	}()
	res, out := runTests(ctx, pkgOf(m.File), m.Run, m.Skip, m.Args, timeout)
	switch res {
	case "pass":
		res = "survived"
	case "fail":
		res = "killed"
	}
	return res, out, nil
}

// runTests runs one package's tests and returns pass, fail or invalid
// (the package did not build).
func runTests(ctx context.Context, pkg, run, skip, testArgs string, timeout time.Duration) (string, []byte) {
	args := []string{"test", "-count=1", "-timeout", timeout.String()}
	if run != "" {
		args = append(args, "-run", run)
	}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	args = append(args, pkg)
	if testArgs != "" {
		args = append(append(args, "-args"), strings.Fields(testArgs)...)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	out, err := cmd.CombinedOutput()
	switch {
	case err == nil:
		return "pass", out
	case bytes.Contains(out, []byte("[build failed]")), bytes.Contains(out, []byte("[setup failed]")),
		bytes.Contains(out, []byte("vet:")):
		return "invalid", out
	}
	return "fail", out
}

// apply replaces the line of src whose trimmed text is m.From: the only
// one, or the m.Nth one when the list says which.
func apply(src []byte, m Mutation) ([]byte, error) {
	lines := strings.SplitAfter(string(src), "\n")
	var found []int
	for i, l := range lines {
		if strings.TrimSpace(l) == m.From {
			found = append(found, i)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: line %q not found; the code moved or changed, update the list", m.File, m.From)
	}
	at := found[0]
	switch {
	case m.Nth > len(found):
		return nil, fmt.Errorf("%s: line %q occurs %d times, the list wants occurrence %d", m.File, m.From, len(found), m.Nth)
	case m.Nth > 0:
		at = found[m.Nth-1]
	case len(found) > 1:
		return nil, fmt.Errorf("%s: line %q occurs %d times (lines %d and %d...); add nth: N", m.File, m.From, len(found), found[0]+1, found[1]+1)
	}
	l := lines[at]
	indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	nl := ""
	if strings.HasSuffix(l, "\n") {
		nl = "\n"
	}
	lines[at] = indent + m.To + nl
	return []byte(strings.Join(lines, "")), nil
}

func pkgOf(file string) string { return "./" + filepath.ToSlash(filepath.Dir(file)) + "/" }

// parseList reads the list: blocks of "key: value" lines separated by
// blank lines; keys name, file, from, to and optionally run, skip, args and nth. Lines
// starting with # are comments. Values are trimmed.
func parseList(path string) ([]Mutation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		ms  []Mutation
		cur Mutation
		n   int
	)
	flush := func() error {
		if cur == (Mutation{}) {
			return nil
		}
		if cur.Name == "" || cur.File == "" || cur.From == "" {
			return fmt.Errorf("%s:%d: a mutation needs name, file and from", path, cur.Line)
		}
		if cur.From == cur.To {
			return fmt.Errorf("%s:%d: from and to are the same", path, cur.Line)
		}
		ms = append(ms, cur)
		cur = Mutation{}
		return nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		l := sc.Text()
		t := strings.TrimSpace(l)
		switch {
		case t == "":
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		case strings.HasPrefix(t, "#"):
			continue
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key: value, got %q", path, n, l)
		}
		if cur == (Mutation{}) {
			cur.Line = n
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "name":
			cur.Name = v
		case "file":
			cur.File = v
		case "from":
			cur.From = v
		case "to":
			cur.To = v
		case "run":
			cur.Run = v
		case "skip":
			cur.Skip = v
		case "args":
			cur.Args = v
		case "nth":
			if cur.Nth, err = strconv.Atoi(v); err != nil || cur.Nth < 1 {
				return nil, fmt.Errorf("%s:%d: nth must be a positive number", path, n)
			}
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q", path, n, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return ms, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mutate:", err)
	os.Exit(2)
}
