package app

import (
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/metrics"
)

// phoneDrops is where a phone number left out of a profile (not
// normalisable to E.164) is told: counted in /metrics by source and shown
// as a row of the inspector, so that an operator sees which number (or
// that SNIPPETD_DEFAULT_COUNTRY is missing).
type phoneDrops struct {
	metrics *metrics.Registry
	ring    *inspect.Ring
}

// PhoneDropped records one dropped number from source at field.
func (p phoneDrops) PhoneDropped(source, field, number string) {
	if p.metrics != nil {
		p.metrics.ObservePhonesDropped(source, 1)
	}
	if p.ring != nil {
		p.ring.RecordPhoneDropped(source, field, number)
	}
}
