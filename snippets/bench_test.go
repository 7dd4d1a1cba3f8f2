package snippets

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/snippetd/snippetd/shop"
)

// The benchmarks render each snippet into a reused buffer, with a CSP
// nonce, from shop values (so building the payload is included). The
// baselines render the same Added to Cart payload with html/template and
// encode it alone with json.Marshal, in the same run:
//
//	go test ./snippets -run '^$' -bench . -benchmem -count 10

// cpuTime returns the CPU time (user + system) the process has used so far.
// The benchmarks report it per operation as cpu-ns/op next to ns/op: on a
// shared machine wall time includes the time other processes hold the
// cores, the process's own CPU time does not (it does include GC).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs f b.N times (b.Loop) and reports cpu-ns/op.
func loop(b *testing.B, f func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
}

func benchRender(b *testing.B, c templ.Component) {
	ctx := templ.WithNonce(context.Background(), "r4nd0m")
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	loop(b, func() {
		buf.Reset()
		if err := c.Render(ctx, &buf); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkLoader(b *testing.B) {
	benchRender(b, Loader(LoaderOptions{PublicKey: "AbC123"}))
}

// The component constructors build the pushes, so each iteration calls
// them inside a ComponentFunc to keep building in the measured work.
func BenchmarkViewedProduct(b *testing.B) {
	p := fullProduct(b)
	benchRender(b, templ.ComponentFunc(func(ctx context.Context, w io.Writer) error { return ViewedProduct(p).Render(ctx, w) }))
}

func BenchmarkAddedToCart(b *testing.B) {
	c, added := seedCart(b)
	benchRender(b, templ.ComponentFunc(func(ctx context.Context, w io.Writer) error { return AddedToCart(c, added).Render(ctx, w) }))
}

func BenchmarkStartedCheckout(b *testing.B) {
	c, _ := seedCart(b)
	benchRender(b, templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		return StartedCheckout(c, checkoutTime).Render(ctx, w)
	}))
}

func BenchmarkIdentify(b *testing.B) {
	k := shop.Customer{Email: "shopper@example.com", PhoneNumber: "+15551234567", FirstName: "John", LastName: "Smith"}
	benchRender(b, templ.ComponentFunc(func(ctx context.Context, w io.Writer) error { return Identify(k).Render(ctx, w) }))
}

// BenchmarkAddedToCartPushes is the builder alone.
func BenchmarkAddedToCartPushes(b *testing.B) {
	c, added := seedCart(b)
	loop(b, func() {
		if _, err := AddedToCartPushes(c, added); err != nil {
			b.Fatal(err)
		}
	})
}

// addedToCartTemplate writes the same partial as addedToCartMarkup with
// html/template, whose JS-context escaping json.Marshals the value.
var addedToCartTemplate = template.Must(template.New("atc").Parse(
	`<script nonce="{{.Nonce}}">(function(klaviyo){klaviyo.push({{.Push}});})(window.klaviyo||(window._klOnsite=window._klOnsite||[]));</script>`))

// BenchmarkBaselineHTMLTemplate builds the Added to Cart payload as a
// struct from the same cart and renders it with html/template.
func BenchmarkBaselineHTMLTemplate(b *testing.B) {
	c, added := seedCart(b)
	var buf bytes.Buffer
	loop(b, func() {
		buf.Reset()
		data := struct {
			Nonce string
			Push  any
		}{"r4nd0m", wantAddedToCart(c, added)[0]}
		if err := addedToCartTemplate.Execute(&buf, data); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkBaselineJSONMarshal encodes the already-built Added to Cart
// payload alone with encoding/json: no building, no markup.
func BenchmarkBaselineJSONMarshal(b *testing.B) {
	c, added := seedCart(b)
	payload := wantAddedToCart(c, added)[0]
	loop(b, func() {
		if _, err := json.Marshal(payload); err != nil {
			b.Fatal(err)
		}
	})
}

// TestBaselinesMatch keeps the baselines honest: html/template must write
// the same partial as the component, so the comparison is like for like.
func TestBaselinesMatch(t *testing.T) {
	c, added := seedCart(t)
	want, err := render(t, AddedToCart(c, added), "r4nd0m")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := addedToCartTemplate.Execute(&buf, struct {
		Nonce string
		Push  any
	}{"r4nd0m", wantAddedToCart(c, added)[0]}); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Errorf("html/template baseline writes\n%s\nwant\n%s", buf.String(), want)
	}
}
