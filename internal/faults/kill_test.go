package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// childEnv marks the test binary run as a snippetd server (see TestMain):
// the same code as cmd/snippetd serve, without building a binary.
const childEnv = "SNIPPETD_FAULTS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChild()
		return
	}
	os.Exit(m.Run())
}

// runChild serves snippetd configured from the environment, prints its URL
// on stdout and runs until killed, or until SIGTERM, when it shuts down as
// `snippetd serve` does (Main.Close within the shutdown timeout).
func runChild() {
	term, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load([]string{"-addr", "127.0.0.1:0"}, os.Getenv, io.Discard)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	m := app.NewMain(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := m.Open(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("URL " + m.Server.URL())
	<-term.Done()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// child is a snippetd server process.
type child struct {
	cmd *exec.Cmd
	url string
}

func startChild(t *testing.T, env []string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childEnv+"=1")...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "URL ") {
		t.Fatalf("child did not start: %q %v", line, err)
	}
	c.url = strings.TrimSpace(line[4:])
	return c
}

// TestScenarioKill9UnderLoad: snippetd on SQLite takes concurrent order
// POSTs, is killed with SIGKILL, and restarts on the same data directory:
// everything it acknowledged before dying is delivered after.
func TestScenarioKill9UnderLoad(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	env := []string{
		"SNIPPETD_DATA_DIR=" + t.TempDir(),
		"SNIPPETD_API_TOKEN=" + token,
		"SNIPPETD_PRIVATE_KEY=" + klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL=" + fake.URL,
		"SNIPPETD_DATABASE_URL=",
	}
	first := startChild(t, env)
	l := startLoad(first.url, "kill9", 8)
	time.Sleep(700 * time.Millisecond)
	first.cmd.Process.Signal(syscall.SIGKILL)
	first.cmd.Wait()
	killed := time.Now()
	l.end()
	// Requests cut by the kill, or refused until the load stopped, are
	// transport errors: not acknowledged.
	bad := 0
	for _, a := range l.bad {
		if a.err == nil {
			t.Errorf("dishonest answer before the kill: %+v", a)
		}
		bad++
	}
	startChild(t, env)
	s := &server{fake: fake}
	tl := s.tally(t, l.acked, 30*time.Second)
	t.Logf("%d requests were cut by the kill or refused while it was down", bad)
	report(t, "sqlite: kill -9 under load, restart", tl, time.Since(killed))
}

// TestScenarioSIGTERMUnderLoad: snippetd on SQLite takes concurrent order
// POSTs while Klaviyo answers slowly, is stopped with SIGTERM (so bulk
// requests are in flight), and restarts on the same data directory:
// everything acknowledged is delivered, and nothing twice, because the
// shutdown lets in-flight sends finish and records them.
func TestScenarioSIGTERMUnderLoad(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	env := []string{
		"SNIPPETD_DATA_DIR=" + t.TempDir(),
		"SNIPPETD_API_TOKEN=" + token,
		"SNIPPETD_PRIVATE_KEY=" + klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL=" + fake.URL,
		"SNIPPETD_DATABASE_URL=",
		"SNIPPETD_SHUTDOWN_TIMEOUT=10s",
	}
	first := startChild(t, env)
	l := startLoad(first.url, "term", 8)
	time.Sleep(500 * time.Millisecond)
	// Every answer from now on takes 700 ms: the SIGTERM below lands while
	// requests are in flight.
	fake.FailFor(5*time.Second, klaviyotest.Slow(700*time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	first.cmd.Process.Signal(syscall.SIGTERM)
	if err := first.cmd.Wait(); err != nil {
		t.Errorf("snippetd did not exit cleanly on SIGTERM: %v", err)
	}
	stopped := time.Now()
	l.end()
	for _, a := range l.bad {
		if a.err == nil && a.status != http.StatusServiceUnavailable {
			t.Errorf("dishonest answer around SIGTERM: %+v", a)
		}
	}
	fake.ClearFaults()
	startChild(t, env)
	s := &server{fake: fake}
	tl := s.tally(t, l.acked, 30*time.Second)
	report(t, "sqlite: SIGTERM under load, restart", tl, time.Since(stopped))
	if tl.twice != 0 {
		t.Errorf("%d events sent twice across a SIGTERM: in-flight sends must finish and be recorded", tl.twice)
	}
}
