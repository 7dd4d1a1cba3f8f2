// Package deploy_test checks the deployment files no daemon runs here:
// the Dockerfile's build line and runtime settings, docker-compose.yml's
// environment, and the systemd unit's settings, by building and running
// the binary the way they do.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// compose is the part of docker-compose.yml the tests read.
type compose struct {
	Services map[string]struct {
		Build struct {
			Target string `yaml:"target"`
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
}

func readCompose(t *testing.T) compose {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// knownSettings are the SNIPPETD_ variables `snippetd serve -h` documents
// (each setting's help names its variable and its _FILE form).
func knownSettings(t *testing.T) map[string]bool {
	t.Helper()
	var help bytes.Buffer
	config.Load([]string{"-h"}, func(string) string { return "" }, &help)
	known := map[string]bool{}
	for _, v := range regexp.MustCompile(`SNIPPETD_[A-Z0-9_]+`).FindAllString(help.String(), -1) {
		known[v] = true
	}
	if len(known) == 0 {
		t.Fatalf("serve -h names no SNIPPETD_ variable:\n%s", help.String())
	}
	return known
}

// dockerfileEnv is the ENV of the Dockerfile's final stage.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ins := range dockerfileInstructions(t, "snippetd") {
		if rest, ok := strings.CutPrefix(ins, "ENV "); ok {
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile ENV %q: want KEY=value", kv)
				}
				env[k] = v
			}
		}
	}
	return env
}

// dockerfileInstructions returns the instructions of one stage (FROM ... AS
// stage) with continuation lines joined and comments dropped.
func dockerfileInstructions(t *testing.T, stage string) []string {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if l, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(l)
			continue
		}
		cur.WriteString(line)
		ins := cur.String()
		cur.Reset()
		if strings.HasPrefix(ins, "FROM ") {
			in = strings.HasSuffix(ins, " AS "+stage)
			continue
		}
		if in {
			out = append(out, ins)
		}
	}
	if len(out) == 0 {
		t.Fatalf("Dockerfile has no stage %q", stage)
	}
	return out
}

func TestComposeSettingsExist(t *testing.T) {
	c := readCompose(t)
	known := knownSettings(t)
	svc, ok := c.Services["snippetd"]
	if !ok {
		t.Fatal("docker-compose.yml has no snippetd service")
	}
	for _, want := range []string{"postgres", "fakeklaviyo"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("docker-compose.yml has no %s service", want)
		}
	}
	vars := map[string]string{}
	for k := range dockerfileEnv(t) {
		vars[k] = "Dockerfile ENV"
	}
	for k := range svc.Environment {
		vars[k] = "docker-compose.yml"
	}
	for _, s := range c.Services {
		for k := range s.Environment {
			if strings.HasPrefix(k, "SNIPPETD_") && !known[k] {
				t.Errorf("docker-compose.yml sets %s, which is no snippetd setting", k)
			}
		}
	}
	for k, where := range vars {
		if !known[k] {
			t.Errorf("%s sets %s, which is no snippetd setting", where, k)
		}
	}
	// The data directory is the image's volume, and compose mounts one there.
	dataDir := svc.Environment["SNIPPETD_DATA_DIR"]
	if !slices.Contains(dockerfileInstructions(t, "snippetd"), `VOLUME ["`+dataDir+`"]`) {
		t.Errorf("SNIPPETD_DATA_DIR %q is not the Dockerfile's VOLUME", dataDir)
	}
	mounted := false
	for _, v := range svc.Volumes {
		mounted = mounted || strings.HasSuffix(v, ":"+dataDir)
	}
	if !mounted {
		t.Errorf("compose mounts no volume on SNIPPETD_DATA_DIR %q: %v", dataDir, svc.Volumes)
	}
}

func TestSystemdUnitSettingsExist(t *testing.T) {
	b, err := os.ReadFile("snippetd.service")
	if err != nil {
		t.Fatal(err)
	}
	known := knownSettings(t)
	vars := regexp.MustCompile(`(?m)^#?Environment=(SNIPPETD_[A-Z0-9_]+)=`).FindAllSubmatch(b, -1)
	if len(vars) == 0 {
		t.Fatal("the unit sets no SNIPPETD_ variable")
	}
	for _, m := range vars {
		if !known[string(m[1])] {
			t.Errorf("snippetd.service sets %s, which is no snippetd setting", m[1])
		}
	}
	for _, want := range []string{"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=snippetd", "ExecStart=/usr/local/bin/snippetd serve"} {
		if !bytes.Contains(b, []byte("\n"+want+"\n")) {
			t.Errorf("snippetd.service lacks %s", want)
		}
	}
}

// buildLine is the Dockerfile's `go build` of snippetd: its environment
// prefix and arguments, with ${VERSION} replaced.
func buildLine(t *testing.T, version, out string) (env, args []string) {
	t.Helper()
	var line string
	for _, ins := range dockerfileInstructions(t, "build") {
		if strings.HasPrefix(ins, "RUN ") && strings.Contains(ins, "-o /out/snippetd ") {
			line = strings.TrimPrefix(ins, "RUN ")
		}
	}
	if line == "" {
		t.Fatal("the Dockerfile's build stage has no RUN ... go build -o /out/snippetd")
	}
	words, err := shellWords(strings.ReplaceAll(line, "${VERSION}", version))
	if err != nil {
		t.Fatalf("Dockerfile build line %q: %v", line, err)
	}
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("Dockerfile build line %q: want [VAR=value ...] go build ...", line)
	}
	for _, w := range words[1:] {
		if w == "/out/snippetd" {
			w = out
		}
		args = append(args, w)
	}
	return env, args
}

// shellWords splits a command line the way sh does for the quoting the
// Dockerfile uses: blanks separate words, double and single quotes group.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '&' || r == ';' || r == '|' || r == '$' || r == '`':
			return nil, fmt.Errorf("%q is more shell than this test reads", r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// syncBuf collects the server's log.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestImageRun builds snippetd as the Dockerfile does (CGO_ENABLED=0, the
// same flags), then runs it from an empty directory, as an unprivileged
// user, with only the environment the Dockerfile and docker-compose.yml give
// it (addresses adapted: the PostgreSQL of the tests, an in-process fake
// Klaviyo, a free port), and checks /readyz, /healthz and the health check
// the image runs, the start-up log, and that an order reaches the fake.
func TestImageRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := dbtest.PostgresURL(t, "deploy")
	if dbURL == "" {
		t.Skip("docker-compose.yml runs snippetd on PostgreSQL, which is unreachable at 127.0.0.1:5432; start it with pg_ctlcluster 15 main start")
	}
	// A world-readable directory, so that the unprivileged user can run the
	// binary; t.TempDir's parents are private to the test's user.
	root, err := os.MkdirTemp("", "snippetd-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	bin := filepath.Join(root, "snippetd")
	const version = "v0.0.0-deploytest"
	benv, bargs := buildLine(t, version, bin)
	if !slices.Contains(benv, "CGO_ENABLED=0") {
		t.Fatalf("the Dockerfile's build line does not set CGO_ENABLED=0 (a static binary for distroless/static): %v", benv)
	}
	build := exec.Command("go", bargs...)
	build.Dir = ".."
	build.Env = append(os.Environ(), benv...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(bargs, " "), err, out)
	}

	fake := klaviyotest.NewServer(t)
	addr := freeAddr(t)
	work := filepath.Join(root, "cwd")
	data := filepath.Join(root, "data")
	for _, d := range []string{work, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}

	c := readCompose(t)
	env := map[string]string{}
	for k, v := range dockerfileEnv(t) {
		env[k] = v
	}
	for k, v := range c.Services["snippetd"].Environment {
		env[k] = v
	}
	// The adaptations from the compose network to this machine, each for a
	// variable the compose file sets (a variable renamed there fails here).
	adapt := map[string]string{
		"SNIPPETD_ADDR":         addr,
		"SNIPPETD_DATA_DIR":     data,
		"SNIPPETD_DATABASE_URL": dbURL,
		"SNIPPETD_KLAVIYO_URL":  fake.URL,
	}
	for k, v := range adapt {
		if _, ok := env[k]; !ok {
			t.Fatalf("docker-compose.yml no longer sets %s", k)
		}
		env[k] = v
	}
	if env["SNIPPETD_PRIVATE_KEY"] != klaviyotest.PrivateKey || env["SNIPPETD_PUBLIC_KEY"] != klaviyotest.CompanyID {
		t.Errorf("docker-compose.yml's keys are not the fake Klaviyo's (%s, %s)", klaviyotest.PrivateKey, klaviyotest.CompanyID)
	}
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	sort.Strings(envList)

	cred, who := unprivileged(t)
	if cred != nil {
		if err := os.Chown(data, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Dir = work
		cmd.Env = envList
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return cmd
	}
	var logs syncBuf
	srv := command("serve")
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatalf("start snippetd as %s: %v", who, err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 60s (last: %v %v); log:\n%s", resp, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("snippetd ran as %s", who)

	// The image's HEALTHCHECK command, with the image's environment.
	hc := command("healthcheck")
	out, err := hc.CombinedOutput()
	if err != nil || !strings.Contains(string(out), version) {
		t.Errorf("snippetd healthcheck: %v %q; want success naming %s", err, out, version)
	}
	if !regexp.MustCompile(`"msg":"snippetd listening".*"version":"` + regexp.QuoteMeta(version) + `"`).MatchString(logs.String()) {
		t.Errorf("the start-up log does not name version %s:\n%s", version, logs.String())
	}
	entries, err := os.ReadDir(work)
	if err != nil || len(entries) != 0 {
		t.Errorf("snippetd wrote into its working directory instead of SNIPPETD_DATA_DIR: %v %v", entries, err)
	}

	// An order with the compose file's token reaches the fake with the
	// compose file's private key.
	order := `{"id":"D1","placed_at":"2026-02-05T15:00:00Z","currency":"USD","customer":{"email":"ann@example.com"},"items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":1}],"total":9.5}`
	req, _ := http.NewRequest("POST", base+"/v1/orders", strings.NewReader(order))
	req.Header.Set("Authorization", "Bearer "+env["SNIPPETD_API_TOKEN"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/orders: %d %s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := fake.WaitEvents(ctx, 2); err != nil {
		t.Errorf("the fake Klaviyo did not get the order's events: %v; log:\n%s", err, logs.String())
	}
}

// unprivileged is the credential to run the server with: none when the
// test already runs as an ordinary user, the nobody user when it runs as
// root and may switch users.
func unprivileged(t *testing.T) (*syscall.Credential, string) {
	if os.Geteuid() != 0 {
		return nil, fmt.Sprintf("the test's own unprivileged user (uid %d)", os.Geteuid())
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Logf("running as root and there is no nobody user (%v): the unprivileged-user part is skipped, snippetd runs as root", err)
		return nil, "root"
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	probe := exec.Command("/bin/true")
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := probe.Run(); err != nil {
		t.Logf("running as root but cannot switch to nobody (%v): the unprivileged-user part is skipped, snippetd runs as root", err)
		return nil, "root"
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, fmt.Sprintf("nobody (uid %d)", uid)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
