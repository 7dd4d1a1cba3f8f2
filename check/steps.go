package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Step is one action of a shopper's walk. Exactly one of Open, Click, Type
// and Wait is set.
type Step struct {
	// Open loads a URL, absolute or relative to the start URL, and waits
	// for its load event.
	Open string `json:"open,omitempty" yaml:"open,omitempty"`
	// Click clicks the first element matching this CSS selector, once it
	// is visible.
	Click string `json:"click,omitempty" yaml:"click,omitempty"`
	// Type types Text, key by key, into the element matching this CSS
	// selector.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Text is what Type types.
	Text string `json:"text,omitempty" yaml:"text,omitempty"`
	// Wait is a duration ("1s") to sleep, or a CSS selector to wait for
	// until it is visible.
	Wait string `json:"wait,omitempty" yaml:"wait,omitempty"`
}

// String describes s as the report shows it.
func (s Step) String() string {
	switch {
	case s.Open != "":
		return "open " + s.Open
	case s.Click != "":
		return "click " + s.Click
	case s.Type != "":
		return fmt.Sprintf("type %q into %s", s.Text, s.Type)
	case s.Wait != "":
		return "wait " + s.Wait
	}
	return "(empty step)"
}

func (s Step) validate() error {
	n := 0
	for _, v := range []string{s.Open, s.Click, s.Type, s.Wait} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("want exactly one of open, click, type and wait")
	}
	if s.Text != "" && s.Type == "" {
		return fmt.Errorf("text goes with type")
	}
	if s.Wait != "" {
		if d, err := time.ParseDuration(s.Wait); err == nil && (d <= 0 || d > time.Minute) {
			return fmt.Errorf("wait %s: want a duration between 0 and 1m", s.Wait)
		}
	}
	return nil
}

// stepsFile is the document of a steps file.
type stepsFile struct {
	Steps []Step `json:"steps" yaml:"steps"`
}

// ParseSteps reads a steps file, YAML or JSON:
//
//	steps:
//	  - open: /products/kettle
//	  - click: "#add-to-cart"
//	  - wait: "#cart-count"
//	  - open: /checkout
//	  - type: "#email"
//	    text: check@example.com
//	  - wait: 1s
//
// Unknown keys are errors, and an error names the step ("steps[3]").
func ParseSteps(data []byte) ([]Step, error) {
	var f stepsFile
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("steps: %w", err)
		}
	} else {
		if err := yaml.Load(data, &f, yaml.WithKnownFields()); err != nil {
			return nil, fmt.Errorf("steps: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	if len(f.Steps) == 0 {
		return nil, fmt.Errorf("steps: the file lists no steps")
	}
	for i, s := range f.Steps {
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("steps[%d]: %w", i, err)
		}
	}
	return f.Steps, nil
}
