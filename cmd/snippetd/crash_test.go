package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// The tests in this file build and run the real snippetd binary, post
// orders to its HTTP API, kill it with SIGKILL and check what the fake
// Klaviyo received.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the binary that the crash tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	closeCheckBrowser()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// binary builds cmd/snippetd once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "snippetd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "snippetd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// syncBuffer collects a process's log safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is one running snippetd process.
type instance struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
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

// start runs `snippetd serve` with env on addr and waits until /readyz
// answers 200.
func start(t *testing.T, name, addr string, env map[string]string) *instance {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SNIPPETD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "SNIPPETD_ADDR="+addr, "SNIPPETD_LOG_LEVEL=info")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	in := &instance{name: name, url: "http://" + addr, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = in.log, in.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		in.kill()
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, in.log.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-in.done:
			t.Fatalf("%s exited during start-up:\n%s", name, in.log.String())
		default:
		}
		if resp, err := http.Get(in.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s:\n%s", name, in.log.String())
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (in *instance) kill() {
	in.cmd.Process.Kill()
	<-in.done
}

func (in *instance) isLeader() bool {
	return strings.Contains(in.log.String(), "now the delivery leader")
}

// placeOrder posts order n and returns the unique_ids the API
// acknowledged (nil when it did not answer 202).
func placeOrder(client *http.Client, base string, n int) ([]string, error) {
	body := fmt.Sprintf(`{"id":"crash-%d","placed_at":"2026-02-05T15:00:00Z","currency":"USD",
	 "customer":{"email":"shopper%d@example.com","first_name":"Ann"},
	 "items":[{"product":{"id":"p%d","name":"Mug","price":9.5},"quantity":2}]}`, n, n%40, n%7)
	req, _ := http.NewRequest("POST", base+"/v1/orders", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 202 {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var v struct {
		UniqueIDs []string `json:"unique_ids"`
	}
	if err := json.Unmarshal(b, &v); err != nil || len(v.UniqueIDs) != 2 {
		return nil, fmt.Errorf("202 without the two unique_ids: %s", b)
	}
	return v.UniqueIDs, nil
}

// acked collects acknowledged unique_ids.
type acked struct {
	mu  sync.Mutex
	ids []string
}

func (a *acked) add(ids []string) {
	a.mu.Lock()
	a.ids = append(a.ids, ids...)
	a.mu.Unlock()
}

func (a *acked) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ids...)
}

// produce posts orders first..first+count-1 from 8 goroutines to the
// instances in turn (skipping failed ones), recording acknowledgements,
// until done or stop is closed.
func produce(client *http.Client, bases func() []string, first, count int, ack *acked, stop <-chan struct{}) {
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := int(next.Add(1) - 1)
				if n >= first+count {
					return
				}
				b := bases()
				if len(b) == 0 {
					return
				}
				if ids, err := placeOrder(client, b[n%len(b)], n); err == nil {
					ack.add(ids)
				}
			}
		})
	}
	wg.Wait()
}

// checkExactlyOnce waits until the fake holds every acknowledged id, then
// checks that Klaviyo would have kept each exactly once.
func checkExactlyOnce(t *testing.T, fake *klaviyotest.Server, want []string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	deadline := time.Now().Add(90 * time.Second)
	for {
		seen = map[string]int{}
		for _, e := range fake.Events() {
			seen[e.UniqueID]++
		}
		missing := 0
		for _, id := range want {
			if seen[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events never reached Klaviyo (fake stats %+v)", missing, len(want), fake.Stats())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s kept %d times", id, n)
		}
	}
	return seen
}

// TestCrashLosesNoAcknowledgedEvent: the binary accepts orders while
// Klaviyo is down, is killed with SIGKILL mid-stream, restarts, Klaviyo
// comes back, and every event the API acknowledged with 202 arrives
// exactly once — on SQLite and on PostgreSQL.
func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	stores := map[string]string{"sqlite": ""}
	if u := dbtest.PostgresURL(t, "outbox_crash"); u != "" {
		stores["postgres"] = u
	}
	for name, dbURL := range stores {
		t.Run(name, func(t *testing.T) {
			fake := klaviyotest.NewServer(t)
			fake.SetDown(true)
			env := map[string]string{
				"SNIPPETD_DATA_DIR":           t.TempDir(),
				"SNIPPETD_API_TOKEN":          "tok",
				"SNIPPETD_PRIVATE_KEY":        klaviyotest.PrivateKey,
				"SNIPPETD_KLAVIYO_URL":        fake.URL,
				"SNIPPETD_OUTBOX_MAX_BACKOFF": "1s",
			}
			if dbURL != "" {
				env["SNIPPETD_DATABASE_URL"] = dbURL
			}
			addr := freeAddr(t)
			in := start(t, "first", addr, env)
			client := &http.Client{Timeout: 10 * time.Second}
			ack := &acked{}
			// Kill -9 once 300 events are acknowledged, while 8 producers
			// are still posting.
			stop := make(chan struct{})
			killed := make(chan struct{})
			go func() {
				defer close(killed)
				for len(ack.list()) < 300 {
					time.Sleep(time.Millisecond)
				}
				in.kill()
			}()
			producing := make(chan struct{})
			first := in
			go func() {
				defer close(producing)
				produce(client, func() []string { return []string{first.url} }, 0, 100000, ack, stop)
			}()
			<-killed
			close(stop)
			<-producing
			beforeCrash := len(ack.list())
			if fake.Stats().Events != 0 {
				t.Fatalf("the fake accepted events while down: %+v", fake.Stats())
			}

			in = start(t, "restarted", addr, env)
			produce(client, func() []string { return []string{in.url} }, 200000, 100, ack, nil)
			fake.SetDown(false)
			want := ack.list()
			checkExactlyOnce(t, fake, want)
			if d := fake.Stats().Duplicates; d != 0 {
				t.Errorf("%d events were sent twice (Klaviyo dropped them by unique_id, but nothing was in flight at the crash)", d)
			}
			t.Logf("%s: %d events acknowledged before the SIGKILL, %d in all; Klaviyo got each once (%d events incl. unacknowledged in-flight ones)", name, beforeCrash, len(want), fake.Stats().Events)

			// The CLI, on the same store, agrees: nothing pending or dead.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				cmd := exec.Command(binary(t), "outbox", "status", "-json", "-data-dir", env["SNIPPETD_DATA_DIR"], "-database-url", dbURL)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("snippetd outbox status: %v\n%s", err, out)
				}
				var st map[string]float64
				json.Unmarshal(out, &st)
				if st["pending"] == 0 && st["dead"] == 0 && st["delivered"] >= float64(len(want)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("outbox status after delivery: %s", out)
				}
			}
		})
	}
}

// countingProxy forwards to the fake and counts the requests of one
// instance, so the test sees which instance delivers.
func countingProxy(t *testing.T, target string) (string, *atomic.Int64) {
	u, _ := url.Parse(target)
	var n atomic.Int64
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), &n
}

// TestTwoInstancesOneDeliversThenTakesOver: two binaries share one
// PostgreSQL outbox; both accept orders, only the leader sends; the leader
// is killed with SIGKILL mid-stream and the other takes over; every
// acknowledged event reaches Klaviyo (deduplicated by unique_id, as Klaviyo
// does) and the fake never had to throttle.
func TestTwoInstancesOneDeliversThenTakesOver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := dbtest.PostgresURL(t, "outbox_two")
	if dbURL == "" {
		t.Skip("PostgreSQL at 127.0.0.1:5432 is unreachable; start it with pg_ctlcluster 15 main start")
	}
	fake := klaviyotest.NewServer(t)
	// Slow answers keep a backlog in flight when the leader dies.
	fake.FailFor(time.Hour, klaviyotest.Slow(50*time.Millisecond))
	var ins [2]*instance
	var sent [2]*atomic.Int64
	for i := range ins {
		proxyURL, n := countingProxy(t, fake.URL)
		sent[i] = n
		ins[i] = start(t, fmt.Sprint("instance-", i), freeAddr(t), map[string]string{
			"SNIPPETD_DATA_DIR":           t.TempDir(),
			"SNIPPETD_DATABASE_URL":       dbURL,
			"SNIPPETD_API_TOKEN":          "tok",
			"SNIPPETD_PRIVATE_KEY":        klaviyotest.PrivateKey,
			"SNIPPETD_KLAVIYO_URL":        proxyURL,
			"SNIPPETD_OUTBOX_MAX_BACKOFF": "1s",
		})
	}
	for deadline := time.Now().Add(30 * time.Second); !ins[0].isLeader() && !ins[1].isLeader(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no instance became the delivery leader")
		}
	}
	leader, standby := 0, 1
	if ins[1].isLeader() {
		leader, standby = 1, 0
	}
	var alive atomic.Int32
	alive.Store(3) // bit i: instance i accepts
	bases := func() []string {
		var b []string
		for i := range ins {
			if alive.Load()&(1<<i) != 0 {
				b = append(b, ins[i].url)
			}
		}
		return b
	}
	client := &http.Client{Timeout: 10 * time.Second}
	ack := &acked{}
	stop := make(chan struct{})
	producing := make(chan struct{})
	go func() { defer close(producing); produce(client, bases, 0, 100000, ack, stop) }()

	// Let both accept and the leader deliver for a while.
	for len(ack.list()) < 400 || sent[leader].Load() < 5 {
		time.Sleep(10 * time.Millisecond)
	}
	if n := sent[standby].Load(); n != 0 {
		t.Errorf("the standby sent %d requests while the leader lived", n)
	}
	alive.Store(1 << standby)
	ins[leader].kill()
	killedAt := time.Now()
	for !ins[standby].isLeader() {
		if time.Since(killedAt) > 30*time.Second {
			t.Fatal("the standby did not take over within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the standby took over %s after the SIGKILL", time.Since(killedAt).Round(10*time.Millisecond))
	for len(ack.list()) < 800 {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-producing
	want := ack.list()
	checkExactlyOnce(t, fake, want)
	st := fake.Stats()
	if st.Throttled != 0 {
		t.Errorf("the fake throttled %d requests: the rate limit was exceeded", st.Throttled)
	}
	if sent[standby].Load() == 0 {
		t.Error("the new leader sent nothing")
	}
	t.Logf("%d acknowledged events, each kept once; %d resent after the SIGKILL and dropped by unique_id; requests: old leader %d, new leader %d; 429s: %d",
		len(want), st.Duplicates, sent[leader].Load(), sent[standby].Load(), st.Throttled)
}
