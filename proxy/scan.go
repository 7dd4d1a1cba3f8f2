package proxy

import "github.com/snippetd/snippetd/internal/jsonscan"

// The one-pass, allocation-free check of an event's properties
// (internal/jsonscan) is tried by validateProperties before the
// decode-into-any walker. It accepts only what the walker would accept; for
// anything invalid, or anything it does not decide itself (a string or key
// whose decoded length could exceed the limit, a number with an exponent or
// of more than 300 digits, duplicated keys pushing the count over the
// limit), the walker decides and names the field. TestScanAgreesWithWalker
// and FuzzScanAgrees hold the two to the same answers.

// maxKeyBytes is the longest property key the walker accepts.
const maxKeyBytes = 256

// scanLimits are the validator's limits in the scanner's terms.
func (v *Validator) scanLimits() jsonscan.Limits {
	return jsonscan.Limits{
		MaxProperties: v.limits.MaxProperties,
		MaxDepth:      v.limits.MaxDepth,
		MaxArray:      v.limits.MaxArray,
		MaxString:     v.limits.MaxString,
		MaxKey:        maxKeyBytes,
	}
}
