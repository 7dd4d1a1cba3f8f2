package klaviyo

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// APIError is one entry of Klaviyo's error document
// {"errors":[{"id","status","code","title","detail","source":{"pointer"}}]}.
type APIError struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	// Pointer is source.pointer: the JSON pointer, into the request body,
	// of the value Klaviyo refused ("" when it named none).
	Pointer string `json:"pointer,omitempty"`
}

// parseAPIErrors reads the errors of an error answer's body; a body that
// is not Klaviyo's error document gives none.
func parseAPIErrors(body []byte) []APIError {
	var doc struct {
		Errors []struct {
			Status json.RawMessage `json:"status"`
			Code   string          `json:"code"`
			Title  string          `json:"title"`
			Detail string          `json:"detail"`
			Source struct {
				Pointer string `json:"pointer"`
			} `json:"source"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	out := make([]APIError, 0, len(doc.Errors))
	for _, e := range doc.Errors {
		// status is an integer in the documents, but older answers quote it.
		st, _ := strconv.Atoi(strings.Trim(string(e.Status), `"`))
		out = append(out, APIError{Status: st, Code: e.Code, Title: e.Title, Detail: e.Detail, Pointer: e.Source.Pointer})
	}
	return out
}

// BulkRef is the place of one refused value in a bulk create events body:
// the entry (one per profile, see BulkBody) and, when the pointer goes
// into one of its events, that event's index within the entry (-1 when it
// names the entry's profile or the entry as a whole).
type BulkRef struct {
	Entry, Event int
}

var bulkPointerRE = regexp.MustCompile(`^/data/attributes/events-bulk-create/data/(\d+)(?:/attributes/events/data/(\d+)(?:/.*)?|/.*)?$`)

// ParseBulkPointer maps source.pointer of a bulk create events answer to
// the entry and event it names. ok is false for a pointer that names no
// entry (the request as a whole, or another shape).
func ParseBulkPointer(pointer string) (ref BulkRef, ok bool) {
	m := bulkPointerRE.FindStringSubmatch(pointer)
	if m == nil {
		return BulkRef{}, false
	}
	ref.Entry, _ = strconv.Atoi(m[1])
	ref.Event = -1
	if m[2] != "" {
		ref.Event, _ = strconv.Atoi(m[2])
	}
	return ref, true
}

// BulkEntries returns, for each entry of BulkBody(events), the indexes in
// events of the entry's events in their order within it: the inverse of
// the grouping BulkBody uses, for reading error pointers.
func BulkEntries(events []Encoded) [][]int {
	var entries [][]int
	index := map[string]int{}
	for k, e := range events {
		i, ok := index[string(e.Profile)]
		if !ok {
			i = len(entries)
			index[string(e.Profile)] = i
			entries = append(entries, nil)
		}
		entries[i] = append(entries[i], k)
	}
	return entries
}

// Private keys are "pk_" and letters, digits or underscores; public keys
// (site ids) are six letters and digits.
var (
	privateKeyRE = regexp.MustCompile(`^pk_[A-Za-z0-9_]+$`)
	publicKeyRE  = regexp.MustCompile(`^[A-Za-z0-9]{6}$`)
)

// CheckPrivateKey reports why key cannot be a Klaviyo private API key,
// or nil. The error never contains the key.
func CheckPrivateKey(key string) error {
	switch {
	case privateKeyRE.MatchString(key):
		return nil
	case strings.TrimSpace(key) == "":
		return fmt.Errorf("a private API key is required")
	case strings.HasPrefix(strings.ToLower(key), "klaviyo-api-key"):
		return fmt.Errorf("give the key alone, without the %q prefix of the Authorization header", "Klaviyo-API-Key")
	case publicKeyRE.MatchString(key):
		return fmt.Errorf("this is a public key (site id, 6 characters); server-side events need a private key, which starts with pk_")
	case strings.HasPrefix(key, "pk_"):
		return fmt.Errorf("a private key is pk_ followed by letters and digits; this one has other characters or none")
	}
	return fmt.Errorf("a Klaviyo private key starts with pk_ (Account > Settings > API keys); this one does not")
}
