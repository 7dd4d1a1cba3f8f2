package shop

import (
	"math/big"
	"strconv"
	"strings"
)

// Amounts in currencies with other than two decimals (0 for JPY, 3 for
// KWD, 4 for CLF). Money keeps cents exactly as before, so everything that
// does not name a currency behaves as it always did, and beside them the
// part beyond cents (off, in ten-thousandths) and how many decimals the
// input needed (places). In(digits) scales an amount to its currency:
// from then on it is written with that currency's decimals, exactly.

// maxPlaces is the most decimals any ISO 4217 currency has.
const maxPlaces = 4

// withExtra fills m's off and places from the decimal text s it was
// parsed from (m.cents already holds s rounded to cents).
func withExtra(m Money, s string) Money {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(body, ".")
	if w, err := strconv.ParseInt(whole, 10, 64); err == nil && w <= maxCents/100 && (!dot || plainDigits(frac)) && plainDigits(whole) {
		frac = strings.TrimRight(frac, "0")
		m.places = uint8(min(len(frac), maxPlaces+1))
		f := (frac + "00000")[:5]
		f4 := int64(f[0]-'0')*1000 + int64(f[1]-'0')*100 + int64(f[2]-'0')*10 + int64(f[3]-'0')
		if f[4] >= '5' {
			f4++
		}
		// Relative to the cents parseCents chose, whatever its rounding.
		c := m.cents
		if neg {
			c = -c
		}
		m.off = (w*100-c)*100 + f4
		if neg {
			m.off = -m.off
		}
		return m
	}
	// Exponent forms: exactly, through math/big.
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return m
	}
	scaled := new(big.Rat).Mul(r, big.NewRat(10_000, 1))
	abs := new(big.Rat).Abs(scaled)
	abs.Add(abs, big.NewRat(1, 2))
	x4 := new(big.Int).Quo(abs.Num(), abs.Denom())
	if r.Sign() < 0 {
		x4.Neg(x4)
	}
	off := x4.Sub(x4, new(big.Int).Mul(big.NewInt(m.cents), big.NewInt(100)))
	if off.IsInt64() {
		m.off = off.Int64()
	}
	m.places = maxPlaces + 1
	p := new(big.Rat).Set(r)
	for k := range maxPlaces + 1 {
		if p.IsInt() {
			m.places = uint8(k)
			break
		}
		p.Mul(p, big.NewRat(10, 1))
	}
	return m
}

func plainDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// exactFrom sets the exact part of a result of a and b: off, the most
// places of either, and the currency scale of whichever has one.
func (m Money) exactFrom(a, b Money, off int64) Money {
	m.off = off
	m.places = placesOf(m.cents, off)
	if a.places > maxPlaces || b.places > maxPlaces {
		m.places = maxPlaces + 1
	}
	m.digits = max(a.digits, b.digits)
	return m
}

// placesOf is how many decimals cents×100 + off ten-thousandths needs.
func placesOf(cents, off int64) uint8 {
	c, r := Money{cents: cents, off: off}.normal()
	switch {
	case r%10 != 0:
		return 4
	case r != 0:
		return 3
	case c%10 != 0:
		return 2
	case c%100 != 0:
		return 1
	}
	return 0
}

// Places is how many decimals the amount needs (5 for more than four).
func (m Money) Places() int { return int(m.places) }

// In returns the amount scaled to a currency with digits decimals (0 to
// 4, CurrencyDigits): it is written with at most that many decimals,
// exactly. Check Places against digits first: more decimals than the
// currency has are rounded half away from zero when written.
func (m Money) In(digits int) Money {
	m.digits = uint8(min(max(digits, 0), maxPlaces)) + 1
	return m
}

// normal returns the amount as cents and a remainder 0 ≤ r < 100 in
// ten-thousandths (cents rounded down).
func (m Money) normal() (int64, int64) {
	c, o := m.cents+m.off/100, m.off%100
	if o < 0 {
		c, o = c-1, o+100
	}
	return c, o
}

// Cmp compares the exact amounts: -1, 0 or +1.
func (m Money) Cmp(o Money) int {
	mc, mr := m.normal()
	oc, or := o.normal()
	switch {
	case mc < oc || mc == oc && mr < or:
		return -1
	case mc == oc && mr == or:
		return 0
	}
	return 1
}

// appendExact writes a scaled amount with at most its currency's decimals,
// trailing zeros dropped.
func (m Money) appendExact(b []byte) []byte {
	digits := int(m.digits) - 1
	c, r := m.normal()
	neg := c < 0
	if neg { // the magnitude of c + r/100 cents is |c| − r/100
		c = -c
		if r > 0 {
			c, r = c-1, 100-r
		}
	}
	// The magnitude as whole units and four fraction digits, then the
	// fraction rounded half up to the currency's digits.
	whole, f4 := c/100, (c%100)*100+r
	div, scale := int64(1), int64(1)
	for range maxPlaces - digits {
		div *= 10
	}
	for range digits {
		scale *= 10
	}
	f := f4 / div
	if f4%div*2 >= div && div > 1 {
		f++
	}
	if f == scale {
		whole, f = whole+1, 0
	}
	if neg && (whole != 0 || f != 0) {
		b = append(b, '-')
	}
	b = strconv.AppendInt(b, whole, 10)
	if f == 0 {
		return b
	}
	frac := strconv.AppendInt(nil, scale+f, 10)[1:] // zero-padded to digits
	b = append(b, '.')
	return append(b, strings.TrimRight(string(frac), "0")...)
}
