package carts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/shop"
)

func randomSecret(t testing.TB) Secret {
	b := make([]byte, secretLen)
	rand.Read(b)
	return NewSecret(b)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openService(t testing.TB, d *db.DB, mode Mode, clk *clock) *Service {
	t.Helper()
	tp, err := ParseTemplate("https://shop.example/cart/restore?items={items}&cart={cart_id}")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), d, Options{PublicURL: "https://t.shop.example/", Template: tp, Mode: mode, TTL: 30 * 24 * time.Hour, PruneBatch: 2, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func cart(id string, lines ...any) shop.Cart {
	c := shop.Cart{ID: id}
	for i := 0; i < len(lines); i += 2 {
		c.Items = append(c.Items, shop.LineItem{Product: shop.Product{ID: lines[i].(string), Name: "P " + lines[i].(string), Price: shop.Cents(1250)}, Quantity: int64(lines[i+1].(int))})
	}
	return c
}

func tokenOf(t testing.TB, link string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(link, "https://t.shop.example/r/")
	if !ok {
		t.Fatalf("link %q is not under the public URL's /r/", link)
	}
	return tok
}

func TestTokenShape(t *testing.T) {
	s := randomSecret(t)
	var k Key
	rand.Read(k[:])
	now := time.Unix(1_790_000_000, 0)
	tok := s.Mint(k, now)
	if len(tok) != TokenChars || TokenChars > 32 {
		t.Fatalf("token %q: %d characters", tok, len(tok))
	}
	gotK, issued, ok := s.Verify(tok)
	if !ok || gotK != k || !issued.Equal(now) {
		t.Fatalf("Verify(%q) = %x %v %v", tok, gotK, issued, ok)
	}
}

// TestTokenTampered flips every bit of a token one at a time: each must
// fail verification.
func TestTokenTampered(t *testing.T) {
	s := randomSecret(t)
	var k Key
	rand.Read(k[:])
	tok := s.Mint(k, time.Now())
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range len(raw) * 8 {
		b := append([]byte(nil), raw...)
		b[i/8] ^= 1 << (i % 8)
		bad := base64.RawURLEncoding.EncodeToString(b)
		if _, _, ok := s.Verify(bad); ok {
			t.Fatalf("bit %d flipped: %q verified", i, bad)
		}
	}
	// Non-canonical base64 (the last character's unused bits) and
	// padding, truncation, extension and other alphabets are refused.
	for _, bad := range []string{tok[:len(tok)-1], tok + "A", tok + "=", strings.ReplaceAll(tok, "-", "+"), "", strings.Repeat("A", TokenChars)} {
		if bad == tok {
			continue
		}
		if _, _, ok := s.Verify(bad); ok {
			t.Errorf("%q verified", bad)
		}
	}
}

// TestTokenOtherSecret: a token made by another shop (another secret)
// never verifies.
func TestTokenOtherSecret(t *testing.T) {
	a, b := randomSecret(t), randomSecret(t)
	for range 1000 {
		var k Key
		rand.Read(k[:])
		if _, _, ok := b.Verify(a.Mint(k, time.Now())); ok {
			t.Fatal("another secret's token verified")
		}
	}
}

// TestTokenGuessing tries random tokens of the right shape, and tokens
// made by walking the key of a real one: none restores anything.
func TestTokenGuessing(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_790_000_000, 0)}
			s := openService(t, d, Missing, clk)
			ctx := context.Background()
			c := cart("c1", "mug", 2)
			s.LinkNow(ctx, &c)
			real := tokenOf(t, c.CheckoutURL)
			if _, out, err := s.Restore(ctx, real); err != nil || out != Restored {
				t.Fatalf("real token: %v %v", out, err)
			}
			raw, _ := base64.RawURLEncoding.DecodeString(real)
			tries := 0
			for i := range 20000 {
				b := make([]byte, len(raw))
				if i%2 == 0 {
					rand.Read(b)
				} else { // the real token with its key's last bytes walked
					copy(b, raw)
					b[keyLen-1] += byte(i)
					b[keyLen-2] += byte(i >> 8)
				}
				guess := base64.RawURLEncoding.EncodeToString(b)
				if guess == real {
					continue
				}
				tries++
				if v, out, err := s.Restore(ctx, guess); err != nil || out != Invalid {
					t.Fatalf("guess %q: %v %+v %v", guess, out, v, err)
				}
			}
			if tries < 19000 {
				t.Fatalf("only %d guesses", tries)
			}
		})
	}
}

// TestRestore covers both databases: a linked cart restores its lines,
// a changed cart gets a new token while the old one still restores the
// old lines, the same lines keep their version, an expired token answers
// Expired, and pruning removes versions unseen for the TTL.
func TestRestore(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_790_000_000, 0)}
			s := openService(t, d, Missing, clk)
			ctx := context.Background()

			one := cart("c/1 & é", "kettle", 1)
			s.LinkNow(ctx, &one)
			two := cart("c/1 & é", "kettle", 1, "mug", 2)
			clk.Add(time.Minute)
			s.LinkNow(ctx, &two)
			if one.CheckoutURL == two.CheckoutURL || one.CheckoutURL == "" {
				t.Fatalf("links %q and %q", one.CheckoutURL, two.CheckoutURL)
			}
			for _, c := range []shop.Cart{one, two} {
				v, out, err := s.Restore(ctx, tokenOf(t, c.CheckoutURL))
				if err != nil || out != Restored {
					t.Fatalf("restore %s: %v %v", c.CheckoutURL, out, err)
				}
				if d := cmp.Diff(c.Items, v.Items, moneyEqual); d != "" || v.CartID != c.ID {
					t.Errorf("restored %s (-want +got):\n%s", v.CartID, d)
				}
			}

			// A shop's own checkout URL is kept in Missing mode.
			own := cart("c2", "mug", 1)
			own.CheckoutURL = "https://shop.example/checkout"
			s.LinkNow(ctx, &own)
			if own.CheckoutURL != "https://shop.example/checkout" {
				t.Errorf("Missing mode replaced the shop's URL: %s", own.CheckoutURL)
			}

			// The same lines seen again later: same version, seen again.
			clk.Add(20 * 24 * time.Hour)
			again := cart("c/1 & é", "kettle", 1)
			s.LinkNow(ctx, &again)
			var rows int
			d.QueryRow(`SELECT COUNT(*) FROM cart_versions`).Scan(&rows)
			if rows != 2 {
				t.Errorf("%d versions stored, want 2", rows)
			}

			// 31 days after the first links: their tokens have expired;
			// the version seen again 11 days ago is kept and restores
			// under its newer token; "two" is pruned.
			clk.Add(11 * 24 * time.Hour)
			if _, out, _ := s.Restore(ctx, tokenOf(t, one.CheckoutURL)); out != Expired {
				t.Errorf("31-day-old token: %v, want expired", out)
			}
			n, err := s.Prune(ctx)
			if err != nil || n != 1 {
				t.Fatalf("pruned %d, %v; want 1", n, err)
			}
			if _, out, _ := s.Restore(ctx, tokenOf(t, again.CheckoutURL)); out != Restored {
				t.Errorf("token of a version seen 11 days ago: %v", out)
			}
		})
	}
}

// TestPruneBatches deletes more rows than one batch holds.
func TestPruneBatches(t *testing.T) {
	d := dbtest.SQLite(t)
	clk := &clock{t: time.Unix(1_790_000_000, 0)}
	s := openService(t, d, Always, clk)
	ctx := context.Background()
	for i := range 7 {
		c := cart("c", "p", i+1)
		if err := s.RememberCarts(ctx, []shop.Cart{c}, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(31 * 24 * time.Hour)
	if n, err := s.Prune(ctx); err != nil || n != 7 {
		t.Fatalf("pruned %d, %v", n, err)
	}
}

// TestSecretShared: two services on one database make the same tokens
// (several instances behind one PostgreSQL); another database's do not
// verify.
func TestSecretShared(t *testing.T) {
	clk := &clock{t: time.Unix(1_790_000_000, 0)}
	d := dbtest.SQLite(t)
	a, b := openService(t, d, Always, clk), openService(t, d, Always, clk)
	other := openService(t, dbtest.SQLite(t), Always, clk)
	c := cart("c", "mug", 1)
	a.LinkCart(&c, clk.Now())
	if err := a.RememberCarts(context.Background(), []shop.Cart{c}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	tok := tokenOf(t, c.CheckoutURL)
	if _, out, _ := b.Restore(context.Background(), tok); out != Restored {
		t.Errorf("second instance: %v", out)
	}
	if _, out, _ := other.Restore(context.Background(), tok); out != Invalid {
		t.Errorf("other shop: %v, want invalid", out)
	}
	if got := fmt.Sprintf("%v %#v %s", a.secret, a.secret, a.secret); strings.Count(got, "[redacted]") != 3 {
		t.Errorf("secret prints as %q", got)
	}
}
