package shop

import (
	"errors"
	"math/big"
	"strconv"
)

// maxCents bounds every amount so that sums and products of realistic carts
// cannot overflow int64 (a quadrillion currency units is beyond any shop).
const maxCents = 1_000_000_000_000_000_00

// Money is an exact amount in minor units (cents). It is decoded from a JSON
// number without passing through float64, rounded half up to cents, and
// encoded back as the shortest decimal JSON number (29.98, 10, 9.9), so
// 3 × 19.99 is 59.97 and never 59.970000000000006.
//
// The zero Money is "absent": IsZero reports whether the amount was never
// set, so `json:",omitzero"` leaves absent optional amounts out while an
// explicit 0 is still written.
type Money struct {
	cents int64
	set   bool
	// off is what the amount holds beyond cents, in ten-thousandths (the
	// exact amount is cents×100 + off), for currencies with three or four
	// decimals; places is how many decimals the input needed (5: more
	// than four); digits+1 is the currency's decimals once In scaled it
	// (0: not scaled, written in cents as above). See money_exact.go.
	off    int64
	places uint8
	digits uint8
}

// Cents returns a Money holding n minor units.
func Cents(n int64) Money { return Money{cents: n, set: true, places: placesOf(n, 0)} }

// ParseMoney parses a decimal number such as "19.99", "5", "1e2" or
// "0.005" (rounded half up to 0.01).
func ParseMoney(s string) (Money, error) {
	c, err := parseCents(s)
	if err != nil {
		return Money{}, err
	}
	return withExtra(Cents(c), s), nil
}

// Cents returns the amount in minor units.
func (m Money) Cents() int64 { return m.cents }

// IsSet reports whether the amount was given.
func (m Money) IsSet() bool { return m.set }

// IsZero reports whether the amount is absent (for omitzero).
func (m Money) IsZero() bool { return !m.set }

// Add returns m + o; the result is set when either operand is.
func (m Money) Add(o Money) Money {
	return Money{cents: m.cents + o.cents, set: m.set || o.set}.exactFrom(m, o, m.off+o.off)
}

// Sub returns m − o; the result is set when either operand is.
func (m Money) Sub(o Money) Money {
	return Money{cents: m.cents - o.cents, set: m.set || o.set}.exactFrom(m, o, m.off-o.off)
}

// Mul returns m × n.
func (m Money) Mul(n int64) Money {
	return Money{cents: m.cents * n, set: m.set}.exactFrom(m, m, m.off*n)
}

// String returns the amount as its JSON number text.
func (m Money) String() string { return string(m.AppendText(nil)) }

// AppendText appends the shortest decimal form of the amount: whole units,
// then up to two fraction digits with trailing zeros dropped.
func (m Money) AppendText(b []byte) []byte {
	if m.digits != 0 {
		return m.appendExact(b)
	}
	c := m.cents
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	b = strconv.AppendInt(b, c/100, 10)
	frac := c % 100
	switch {
	case frac == 0:
	case frac%10 == 0:
		b = append(b, '.', byte('0'+frac/10))
	default:
		b = append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return b
}

// MarshalJSON encodes the amount as a JSON number, or null when absent.
func (m Money) MarshalJSON() ([]byte, error) {
	if !m.set {
		return []byte("null"), nil
	}
	return m.AppendText(nil), nil
}

// errNotNumber is returned for JSON values that are not numbers.
var errNotNumber = errors.New("must be a number")

// UnmarshalJSON decodes a JSON number exactly. null leaves m absent.
func (m *Money) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*m = Money{}
		return nil
	}
	c, err := parseCents(string(data))
	if err != nil {
		return err
	}
	*m = withExtra(Cents(c), string(data))
	return nil
}

// parseCents converts decimal text to cents, rounding half up (away from
// zero for negative amounts). Plain decimals take a fast path; exponents go
// through math/big so that nothing is lost.
func parseCents(s string) (int64, error) {
	if s == "" {
		return 0, errNotNumber
	}
	if c, ok := parsePlainCents(s); ok {
		return c, nil
	}
	if s[0] == '"' || s[0] == '{' || s[0] == '[' || s[0] == 't' || s[0] == 'f' {
		return 0, errNotNumber
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, errNotNumber
	}
	r.Mul(r, big.NewRat(100, 1))
	neg := r.Sign() < 0
	r.Abs(r)
	// floor(r + 1/2)
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() || q.Int64() > maxCents {
		return 0, errors.New("is out of range")
	}
	c := q.Int64()
	if neg {
		c = -c
	}
	return c, nil
}

// parsePlainCents handles -?digits(.digits)? without exponent.
func parsePlainCents(s string) (int64, bool) {
	i, neg := 0, false
	if s[0] == '-' {
		neg, i = true, 1
	}
	var whole int64
	start := i
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		whole = whole*10 + int64(s[i]-'0')
		if whole > maxCents/100 {
			return 0, false
		}
	}
	if i == start {
		return 0, false
	}
	var frac int64
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			switch i - fs {
			case 0:
				frac += int64(s[i]-'0') * 10
			case 1:
				frac += int64(s[i] - '0')
			case 2:
				if s[i] >= '5' {
					frac++
				}
			}
		}
		if i == fs {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	c := whole*100 + frac
	if c > maxCents {
		// Past the bound only by the fraction (10^15.01): let the exact
		// path refuse it, as it refuses the same amount with an exponent.
		return 0, false
	}
	if neg {
		c = -c
	}
	return c, true
}
