package shop

import "github.com/bojanz/currency"

// CurrencyDigits returns the number of minor-unit digits of an ISO 4217
// currency code (2 for USD, 0 for JPY, 3 for KWD), from the CLDR table
// github.com/bojanz/currency maintains, and whether the code is known.
func CurrencyDigits(code string) (int, bool) {
	d, ok := currency.GetDigits(code)
	return int(d), ok
}
