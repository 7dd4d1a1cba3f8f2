// Command fakeklaviyo runs the strict fake Klaviyo of package klaviyotest
// as a standalone server, for demos and for running snippetd by hand
// without reaching Klaviyo:
//
//	fakeklaviyo -addr 127.0.0.1:9090
//	SNIPPETD_KLAVIYO_URL=http://127.0.0.1:9090 SNIPPETD_PRIVATE_KEY=pk_snippetd_fake_0123456789abcdef snippetd serve
//
// On exit it prints what it received and accepted.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fakeklaviyo:", err)
		os.Exit(1)
	}
}

// run starts the fake on -addr and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakeklaviyo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	key := fs.String("private-key", klaviyotest.PrivateKey, "private API key to accept")
	company := fs.String("company-id", klaviyotest.CompanyID, "public key (company_id) to accept on /client endpoints")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sch, err := klaviyotest.LoadSchemas()
	if err != nil {
		return err
	}
	s, err := klaviyotest.Start(*addr, func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) })
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetKeys(*key, *company)
	fmt.Fprintf(stdout, "fake Klaviyo at %s (request bodies checked against %d embedded Klaviyo OpenAPI slices)\n", s.URL, len(sch.Files()))
	<-ctx.Done()
	st := s.Stats()
	fmt.Fprintf(stdout, "requests %d, accepted %d, throttled %d, rejected %d, events %d (duplicates dropped %d), profiles %d, catalog items %d\n",
		st.Requests, st.Accepted, st.Throttled, st.Rejected, st.Events, st.Duplicates, len(s.Profiles()), len(s.CatalogItems()))
	return nil
}
