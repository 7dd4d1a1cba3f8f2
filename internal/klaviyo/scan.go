package klaviyo

import "github.com/snippetd/snippetd/internal/jsonscan"

// A one-pass, allocation-free check of an event's properties, used by
// ValidateAt before the token walker (checkProperties). scanProperties
// answers anything but propsUnknown only when checkProperties would return
// nil; it answers propsUnknown for anything invalid and for anything it
// does not decide itself (a string whose decoded length could exceed
// MaxStringBytes, a "null", a non-JSON space), in which case the walker
// decides and names the field. TestValidateAgreesWithReference and
// FuzzValidateAgrees hold the two to the same answers.

// propsMode is what a scan of an event's properties found, for the
// encoders (see encodable).
type propsMode uint8

const (
	propsUnknown  propsMode = iota // not scanned, or refused by the scan
	propsBlank                     // empty or JSON whitespace: sent as {}
	propsCompact                   // one object within the limits
	propsVerbatim                  // and no whitespace outside its strings
)

// scanProperties reports whether raw is certainly acceptable properties
// (empty or JSON whitespace, or one JSON object within Klaviyo's limits
// followed only by JSON whitespace: anything but propsUnknown), and tells
// the encoders what it found.
func scanProperties(raw []byte) propsMode {
	switch r := jsonscan.Scan(raw, propertyLimits); {
	case r.Blank:
		return propsBlank
	case r.OK && r.Spaced:
		return propsCompact
	case r.OK:
		return propsVerbatim
	}
	return propsUnknown
}

// propertyLimits are Klaviyo's documented limits on event properties.
var propertyLimits = jsonscan.Limits{
	MaxProperties: MaxProperties,
	MaxDepth:      MaxDepth,
	MaxArray:      MaxArrayItems,
	MaxString:     MaxStringBytes,
	Exponents:     true,
}

// encodedSizeBound is an upper bound on len(EncodeEvent(e)): encoding/json
// writes any input byte as at most 6 bytes (\u00XX, \ufffd for an invalid
// byte, \u2028 for three), and the JSON:API framing, keys, time and value
// fit in 2 KB.
func encodedSizeBound(e Event) int {
	n := len(e.Properties) + len(e.Metric) + len(e.ValueCurrency) + len(e.UniqueID)
	p := e.Profile
	n += len(p.Email) + len(p.PhoneNumber) + len(p.ExternalID) + len(p.Kx) + len(p.AnonymousID) + len(p.FirstName) + len(p.LastName)
	if l := p.Location; l != nil {
		n += len(l.Address1) + len(l.Address2) + len(l.City) + len(l.Country) + len(l.Region) + len(l.Zip) + len(l.IP)
	}
	return 6*n + 2048
}
